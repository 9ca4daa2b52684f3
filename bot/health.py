"""The heartbeat: periodic checks that feed ``/readyz``, the log, the metrics and admin alerts.

Each beat checks every channel (connected, age of the last inbound event), that the store takes a
real write, the free disk space under the data directory and, rate-limited, that each model
provider answers a free call (listing models; never a completion). A change of readiness (ready →
not ready, or back) is logged and posted once to the admin conversation; an unchanged state is not.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from agent.clock import Clock
from agent.errors import ProviderError
from agent.providers.base import ModelProvider
from bot.store.base import Store
from channels.base import Channel, SessionKey
from config import ConfigError
from config.operations import HeartbeatSettings

log = logging.getLogger(__name__)

MB = 1024 * 1024
Alert = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check: ``channel:telegram``, ``store``, ``disk``, ``provider:<name>``."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One heartbeat's checks; ready when none failed and the service is not stopping."""

    checks: tuple[Check, ...]
    at: datetime
    stopping: bool = False

    @property
    def ready(self) -> bool:
        """No check failed and the service is not shutting down."""
        return not self.stopping and all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[str]:
        """One line per reason not to be ready."""
        lines = ["shutting down"] if self.stopping else []
        return lines + [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def text(self) -> str:
        """The ``/readyz`` body: ``ready`` or ``not ready``, then one line per check."""
        head = "ready" if self.ready else "not ready"
        lines = [head, *(f"problem {p}" for p in self.problems)]
        lines += [f"ok {c.name}: {c.detail}" for c in self.checks if c.ok]
        return "\n".join(lines) + "\n"


class Watched(Protocol):
    """What the heartbeat reads from the running service."""

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The channels by name."""
        ...

    @property
    def stopping(self) -> bool:
        """Shutdown has begun."""
        ...

    def inbound_age(self, platform: str) -> float:
        """Seconds since the last inbound event of ``platform`` (since start when none came)."""
        ...


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


class Heartbeat:
    """Runs the checks; keeps the last report and the readiness it last announced."""

    def __init__(
        self,
        *,
        watched: Watched,
        store: Store,
        providers: Mapping[str, ModelProvider],
        data_dir: Path,
        settings: HeartbeatSettings,
        clock: Clock,
        alert: Alert | None = None,
        on_report: Callable[[HealthReport], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        disk_free: Callable[[Path], int] = free_bytes,
    ) -> None:
        self._watched = watched
        self._store = store
        self._providers = providers
        self._data_dir = data_dir
        self._settings = settings
        self._clock = clock
        self._alert = alert
        self._on_report = on_report
        self._monotonic = monotonic
        self._disk_free = disk_free
        self._timeout = settings.timeout.total_seconds()
        self._provider_checks: dict[str, Check] = {}
        self._probed_at: dict[str, float] = {}
        self._announced_ready = True  # so a first beat with problems is announced
        self._last_problems: list[str] = []
        self.report: HealthReport | None = None

    def readiness(self) -> HealthReport | None:
        """The last report, marked stopping once shutdown began; None before the first beat."""
        report = self.report
        if report is None or not self._watched.stopping or report.stopping:
            return report
        return HealthReport(report.checks, report.at, stopping=True)

    async def beat(self, *, probe_providers: bool = True) -> HealthReport:
        """Run the checks once (providers only when due), publish and announce the result.

        Args:
            probe_providers: Whether providers whose interval has passed are called now; the
                start-up beat skips them so that starting never waits for a remote API.
        """
        now = self._clock.now()
        checks = [*self._channel_checks(), await self._store_check(now), self._disk_check()]
        if probe_providers and self._settings.probe_providers:
            await self._probe_due_providers()
        checks += [self._provider_checks[name] for name in sorted(self._provider_checks)]
        report = HealthReport(tuple(checks), now, stopping=self._watched.stopping)
        self.report = report
        if self._on_report is not None:
            self._on_report(report)
        await self._announce(report)
        return report

    def _channel_checks(self) -> list[Check]:
        limit = self._settings.max_inbound_age
        checks = []
        for name, channel in sorted(self._watched.channels.items()):
            age = self._watched.inbound_age(name)
            if not channel.connected:
                checks.append(Check(f"channel:{name}", False, "disconnected"))
            elif limit is not None and age > limit.total_seconds():
                checks.append(Check(f"channel:{name}", False, f"no inbound event for {age:.0f} s"))
            else:
                checks.append(
                    Check(f"channel:{name}", True, f"connected, last event {age:.0f} s ago")
                )
        return checks

    async def _store_check(self, now: datetime) -> Check:
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.record_heartbeat(now)
        except TimeoutError:
            return Check("store", False, f"a write took longer than {self._timeout:g} s")
        except Exception as exc:  # whatever the store raised, it did not take the write: report it
            return Check("store", False, f"not writable ({type(exc).__name__}: {exc})")
        return Check("store", True, "writable")

    def _disk_check(self) -> Check:
        try:
            free_mb = self._disk_free(self._data_dir) // MB
        except OSError as exc:
            return Check("disk", False, f"cannot read free space ({exc})")
        minimum = self._settings.min_free_disk_mb
        if free_mb < minimum:
            return Check("disk", False, f"{free_mb} MB free under data_dir, below {minimum} MB")
        return Check("disk", True, f"{free_mb} MB free")

    async def _probe_due_providers(self) -> None:
        interval = self._settings.provider_interval.total_seconds()
        now = self._monotonic()
        due = [
            name
            for name in self._providers
            if name not in self._probed_at or now - self._probed_at[name] >= interval
        ]
        results = await asyncio.gather(*(self._probe(n, self._providers[n]) for n in due))
        for name, check in zip(due, results, strict=True):
            self._probed_at[name] = now
            self._provider_checks[name] = check

    async def _probe(self, name: str, provider: ModelProvider) -> Check:
        check = f"provider:{name}"
        try:
            async with asyncio.timeout(self._timeout):
                await provider.probe()
        except TimeoutError:
            return Check(check, False, f"no answer within {self._timeout:g} s")
        except ProviderError as exc:
            return Check(check, False, f"unreachable ({exc.kind}: {exc})")
        return Check(check, True, "reachable")

    async def _announce(self, report: HealthReport) -> None:
        if report.stopping:
            return  # leaving on purpose is not an incident
        problems = report.problems
        if report.ready == self._announced_ready:
            if problems and problems != self._last_problems:
                log.warning("still not ready: %s", "; ".join(problems))
            elif not problems:
                log.debug("heartbeat: ready (%d checks)", len(report.checks))
            self._last_problems = problems
            return
        self._announced_ready = report.ready
        self._last_problems = problems
        if report.ready:
            log.info("ready again")
            await self._post("✅ Hearth is ready again.")
        else:
            log.warning("not ready: %s", "; ".join(problems))
            await self._post("⚠ Hearth is not ready: " + "; ".join(problems))

    async def _post(self, text: str) -> None:
        if self._alert is None:
            return
        try:
            await self._alert(text)
        except Exception:  # an alert that cannot be posted must not stop the heartbeat
            log.exception("could not post the health alert")


def alert_sender(
    target: str | None, channels: Mapping[str, Channel], configured: Collection[str]
) -> Alert | None:
    """How alerts reach ``heartbeat.alert_to``, or None when it is unset or its channel is not
    running in this process (``hearth chat``).

    Raises:
        ConfigError: ``alert_to`` names a platform with no configured channel.
    """
    if target is None:
        return None
    parts = target.split(":")
    key = SessionKey(parts[0], "", parts[1]) if len(parts) == 2 else SessionKey.parse(target)
    channel = channels.get(key.platform)
    if channel is None:
        if key.platform not in configured:
            raise ConfigError("heartbeat.alert_to", f'no channel "{key.platform}" is configured')
        log.info("alerts go to %s, which does not run in this process: none are posted", key)
        return None

    async def post(text: str) -> None:
        await channel.send(key, text)

    return post

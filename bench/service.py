"""The service under test: settings for the benchmarks, the runtime with the benchmark channel, and
the join of what Hearth stored per turn with what the simulated provider did for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.channel import BenchChannel
from bench.model_server import ProviderCall
from bench.prompts import INSTRUCTIONS
from bench.results import child_env
from bot.cli import settle_heap
from bot.logs import configure_logging
from bot.redaction import configured_secrets
from bot.runtime import Runtime
from bot.store.base import TurnRecord
from bot.wiring import open_runtime, open_store
from config import Settings
from config.settings import parse_settings
from tests.fakes.latency import LatencyModel

MODEL = "claude-bench"
SONNET_PRICE = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}
NO_LIMIT = 10**12
"""Limits high enough never to refuse, so that their checks still run on every message."""

REALISTIC = LatencyModel(
    base_s=0.3, prefill_s_per_token=0.00005, cached_s_per_token=0.0, output_tokens_per_s=100.0
)
"""A provider like a mid-size hosted model: 0.3 s to first token plus 0.05 ms per uncached
prompt token (20,000 tokens/s prefill), then 100 tokens/s."""


def bench_settings(
    data_dir: Path,
    model_url: str,
    *,
    platform: str = "telegram",
    max_concurrent_turns: int = 32,
    provider: str = "anthropic",
    **sections: Any,
) -> Settings:
    """Settings as a deployment would have them, pointed at the model fake.

    The default profile (all built-in tools) gets :data:`bench.prompts.INSTRUCTIONS`; DMs are
    open; the message rate and the token budgets are checked but never refuse. With
    ``platform="telegram"`` a ``channels.telegram`` section is added (its token is never used:
    the benchmark channel stands in for the adapter) so that access control and limits run.
    """
    model_name = MODEL if provider == "anthropic" else "gpt-bench"
    url = model_url if provider == "anthropic" else f"{model_url}/v1"
    data: dict[str, Any] = {
        "data_dir": str(data_dir),
        "models": {
            "providers": {
                provider: {
                    "kind": provider,
                    "api_key": "sk-bench",
                    "base_url": url,
                    "max_retries": 0,
                }
            },
            "tiers": {"default": [f"{provider}:{model_name}"]},
            "models": {f"{provider}:{model_name}": {"price": SONNET_PRICE}},
        },
        "agent": {"profiles": {"default": {"instructions": INSTRUCTIONS}}},
        "sessions": {"max_concurrent_turns": max_concurrent_turns},
        "access": {"dm": "open"},
        "limits": {
            "user_messages_per_minute": NO_LIMIT,
            "user_daily_tokens": NO_LIMIT,
            "workspace_daily_tokens": NO_LIMIT,
        },
    }
    if platform == "telegram":
        data["channels"] = {"telegram": {"token": "1:bench-not-used"}}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_settings(data)


@contextlib.contextmanager
def service_logging(settings: Settings) -> Iterator[None]:
    """Logging as ``hearth run`` sets it up (one line per turn and more), written to /dev/null,
    so that its cost is part of what is measured; the previous handlers come back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        configure_logging(settings.logging, secrets=configured_secrets(settings), stream=sink)
        try:
            yield
        finally:
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in handlers:
                root.addHandler(handler)
            root.setLevel(level)


@contextlib.asynccontextmanager
async def running(settings: Settings, channel: BenchChannel) -> AsyncIterator[Runtime]:
    """Hearth (the whole runtime from the composition root) with the benchmark channel, its heap
    settled as ``hearth run`` settles it once it runs."""
    with service_logging(settings):
        async with open_runtime(settings, [channel]) as runtime:
            settle_heap()
            try:
                yield runtime
            finally:
                gc.unfreeze()  # the next run in this process starts from a plain heap


async def stored_turns(settings: Settings) -> list[TurnRecord]:
    """Every turn in the store of ``settings``."""
    async with open_store(settings) as store:
        return await store.turns()


async def session_threads(
    settings: Settings, channel: BenchChannel, threads: Iterable[str]
) -> dict[str, str]:
    """Session id → benchmark thread, for the given threads."""
    found: dict[str, str] = {}
    async with open_store(settings) as store:
        for thread in threads:
            record = await store.load_session(str(channel.key(thread)))
            if record is not None:
                found[record.id] = thread
    return found


@dataclass(frozen=True)
class TurnSample:
    """One stored turn joined with the provider call for it (times in ns).

    ``held`` is the time the model fake had the request before its first token left (from its
    request's headers arriving to its first content delta written); ``slept`` is the simulated
    wait itself.
    ``to_provider`` / ``from_provider`` split the rest of the ``model`` segment when the
    message's ``received`` stamp is known (the fake's stamps use the same monotonic clock).
    """

    thread: str
    ordinal: int
    warm: bool
    queue: int
    session: int
    prepare: int
    model: int
    deliver: int
    held: int
    slept: int
    simulated: int
    input_tokens: int
    cache_read_tokens: int
    to_provider: int | None = None
    from_provider: int | None = None

    @property
    def ttft(self) -> int:
        """Received → first visible, as Hearth measured it."""
        return self.queue + self.session + self.prepare + self.model + self.deliver

    @property
    def overhead(self) -> int:
        """TTFT minus the time the request spent at the (simulated) provider."""
        return self.ttft - self.held

    @property
    def overhead_vs_simulated(self) -> int:
        """TTFT minus only the simulated first-token time (the fake's own work counted as ours)."""
        return self.ttft - self.simulated

    @property
    def model_overhead(self) -> int:
        """The ``model`` segment minus the provider's time: SDK, loopback, SSE parsing."""
        return self.model - self.held

    @property
    def cache_share(self) -> float:
        """Share of the prompt's tokens read from the provider's cache."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0


_LABEL = re.compile(r"\[(?P<thread>[^\]#]+)#(?P<turn>\d+)\]")


def tag(thread: str, turn: int) -> str:
    """The tag of turn ``turn`` in ``thread``; it is how a fake's call is matched to a turn."""
    return f"{thread}#{turn}"


def join(
    turns: Sequence[TurnRecord],
    calls: Sequence[ProviderCall],
    threads: Mapping[str, str],
    received: Mapping[tuple[str, int], int] | None = None,
) -> list[TurnSample]:
    """Match stored turns with provider calls by (thread, turn number).

    ``threads`` maps session ids to benchmark threads; ``received`` gives the ``received`` stamp
    of each (thread, turn) when the caller kept it. Turns without segments (nothing shown) or
    without a matching call are left out.
    """
    by_tag: dict[tuple[str, int], ProviderCall] = {}
    for call in calls:
        found = _LABEL.fullmatch(call.simulated.label)
        if found is not None:
            by_tag[(found["thread"], int(found["turn"]))] = call
    samples: list[TurnSample] = []
    for turn in turns:
        thread = threads.get(turn.session_id)
        if thread is None or turn.segments is None:
            continue
        matched = by_tag.get((thread, turn.ordinal))
        if matched is None:
            continue
        s = turn.segments
        to_provider = from_provider = None
        start = (received or {}).get((thread, turn.ordinal))
        if start is not None and matched.arrived_ns:
            sent = start + s.queue + s.session + s.prepare
            to_provider = matched.arrived_ns - sent
            from_provider = sent + s.model - matched.first_token_ns
        samples.append(
            TurnSample(
                thread=thread,
                ordinal=turn.ordinal,
                warm=turn.warm,
                queue=s.queue,
                session=s.session,
                prepare=s.prepare,
                model=s.model,
                deliver=s.deliver,
                held=matched.held_ns,
                slept=round(matched.simulated.slept_s * 1e9),
                simulated=round(matched.simulated.first_token_s * 1e9),
                input_tokens=turn.usage.input_tokens,
                cache_read_tokens=turn.usage.cache_read_tokens,
                to_provider=to_provider,
                from_provider=from_provider,
            )
        )
    return samples


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process so far (this one by default)."""
    if pid is None:
        usage = os.times()
        return usage.user + usage.system
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mib(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default) in MiB, from ``/proc``."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text(encoding="utf-8")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


class Stopwatch:
    """Wall time and this process's CPU time over a stretch of work."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = cpu_seconds()

    def elapsed(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) since creation."""
        return time.perf_counter() - self.wall, cpu_seconds() - self.cpu


async def wait_until(predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    """Poll ``predicate`` until it holds; ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the condition spans components that know nothing of us
            await asyncio.sleep(0.005)


_RUNNING = re.compile(r"hearth running.*http://127\.0\.0\.1:(\d+)")
_PROBLEM = re.compile(rb"level=(warning|error|critical)\b", re.IGNORECASE)


class HearthProcess:
    """``hearth run`` in a child process; its log is read as it comes, problems counted.

    Attributes:
        port: The HTTP port it serves ``/readyz`` on.
        running_s: Seconds from process start to the log line that says it runs.
        problems: Warning and error lines logged so far (the last ones in ``last_problems``).
    """

    def __init__(self, process: asyncio.subprocess.Process, started: float) -> None:
        self.process = process
        self.started = started
        self.port = 0
        self.running_s = 0.0
        self.problems = 0
        self.last_problems: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        """The service's process id."""
        return self.process.pid

    async def wait_running(self) -> None:
        """Read the log until the service says it runs, then keep reading it in the background."""
        stderr = self.process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            self._note(line)
            found = _RUNNING.search(line.decode(errors="replace"))
            if found:
                self.port = int(found.group(1))
                self.running_s = time.perf_counter() - self.started
                self._reader = asyncio.create_task(self._read_rest(stderr))
                return
        raise RuntimeError(f"hearth run exited ({self.process.returncode}) before it was running")

    async def stop(self) -> None:
        """SIGTERM, then wait for the exit and the end of its log."""
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()
        if self._reader is not None:
            await self._reader

    async def _read_rest(self, stderr: asyncio.StreamReader) -> None:
        while line := await stderr.readline():
            self._note(line)

    def _note(self, line: bytes) -> None:
        if _PROBLEM.search(line):
            self.problems += 1
            self.last_problems = [*self.last_problems[-9:], line.decode(errors="replace").strip()]


@contextlib.asynccontextmanager
async def hearth_run(config: Path, *, start_limit_s: float = 120.0) -> AsyncIterator[HearthProcess]:
    """``python -m bot -c CONFIG run`` until the block ends; yields once it says it runs."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "-c",
        str(config),
        "run",
        cwd=config.parent,
        env=child_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    service = HearthProcess(process, started)
    try:
        await asyncio.wait_for(service.wait_running(), start_limit_s)
        yield service
    finally:
        await service.stop()

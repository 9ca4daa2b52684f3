"""A per-workspace call budget, so concurrent replies share Slack's per-method rate tiers.

Slack limits each Web API method per workspace: ``chat.update`` is Tier 3 (about 50 a minute),
``chat.appendStream`` Tier 4 (about 100 a minute), ``chat.startStream`` Tier 2 (about 20 a minute),
with short bursts tolerated (docs.slack.dev/apis/web-api/rate-limits; PLATFORM_NOTES §1.1). Every
streamed reply in a workspace draws from the same buckets; the per-message interval is kept by the
reply itself. A 429 that gets through anyway is waited out for its ``Retry-After`` by slack_sdk's
retry handler (:mod:`.web_api`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

_PRUNE_AT = 1024
STARTS_PER_MINUTE = 20  # chat.startStream, Tier 2


class Budget:
    """A token bucket per key (a team id): ``per_minute`` calls, bursts of up to ``burst``.

    Args:
        per_minute: Sustained rate.
        burst: Calls that may go out back to back after a quiet period (default: a tenth of a
            minute's worth, at least one).
        clock: Monotonic seconds; the running loop's clock by default.
    """

    def __init__(
        self, per_minute: int, *, burst: int | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst if burst is not None else max(1, per_minute // 10))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def delay(self, key: str) -> float:
        """Seconds until a call for ``key`` may go out (0 when it may go now)."""
        tokens = self._tokens(key, self._now())
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def take(self, key: str) -> None:
        """Record a call for ``key`` (the bucket may go into debt: later calls wait longer)."""
        now = self._now()
        self._buckets[key] = (self._tokens(key, now) - 1, now)
        if len(self._buckets) > _PRUNE_AT:
            # A bucket that has refilled completely is the same as no bucket.
            self._buckets = {
                k: v for k, v in self._buckets.items() if self._tokens(k, now) < self._burst
            }

    async def acquire(self, key: str) -> None:
        """Wait for a slot for ``key`` and take it (slots are reserved in call order)."""
        wait = self.delay(key)
        self.take(key)
        if wait > 0:
            await asyncio.sleep(wait)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - at) * self._rate)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()


@dataclass(frozen=True, slots=True)
class Budgets:
    """The per-workspace budgets every reply of a channel shares."""

    edits: Budget
    appends: Budget
    # Tier 2 is "20+ per minute": a minute's worth may go out at once (twenty threads asked
    # together), later ones are spaced.
    starts: Budget = field(
        default_factory=lambda: Budget(STARTS_PER_MINUTE, burst=STARTS_PER_MINUTE)
    )

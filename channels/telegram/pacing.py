"""Spacing edits per chat, so concurrent replies in one group share Telegram's flood budget.

Telegram's guidance is about one message per second per chat and 20 per minute per group, with
HTTP 429 ``retry_after`` beyond that (Bot FAQ; PLATFORM_NOTES.md §1.2). Whether edits count is not
documented, so they are assumed to.
"""

from __future__ import annotations

import asyncio

_PRUNE_AT = 1024


class Pacer:
    """Hands out call slots per key (a chat id) at least ``interval`` seconds apart.

    Slots are reserved in call order, so concurrent waiters are served first come, first served.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next: dict[int, float] = {}

    async def wait(self, key: int) -> None:
        """Return when the next call for ``key`` may be made, and reserve that slot."""
        now = asyncio.get_running_loop().time()
        at = max(now, self._next.get(key, now))
        self._reserve(key, at + self._interval, now)
        if at > now:
            await asyncio.sleep(at - now)

    def note(self, key: int) -> None:
        """Record a call made without waiting (a new post): the next one waits a full interval."""
        now = asyncio.get_running_loop().time()
        self._reserve(key, max(self._next.get(key, now), now + self._interval), now)

    def _reserve(self, key: int, until: float, now: float) -> None:
        self._next[key] = until
        if len(self._next) > _PRUNE_AT:
            self._next = {k: v for k, v in self._next.items() if v > now}

"""Spacing calls per chat, per group and per bot, so concurrent replies share Telegram's flood
budget.

Telegram's guidance is about one message per second per chat, 20 per minute per group and about
30 per second overall, with HTTP 429 ``retry_after`` beyond that (Bot FAQ; PLATFORM_NOTES.md §1.2).
Whether edits count is not documented, so they are assumed to. :class:`Pacer` spaces the edits of
one chat (``edit_interval``); :class:`FloodBudget` holds the group and bot-wide buckets. A 429 that
gets through anyway is honoured by :mod:`.bot_api` (the chat is held for ``retry_after``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from channels.base import ChannelError

GROUP_PER_MINUTE = 20
BOT_PER_SECOND = 30

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


class TokenBucket:
    """A token bucket per key: ``rate`` tokens a second, at most ``capacity`` saved up.

    A taken token may put the bucket into debt, so callers that reserve ahead wait in turn.
    """

    def __init__(
        self, rate: float, capacity: float, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._rate = rate
        self._capacity = capacity
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key → (tokens, at)

    def delay(self, key: int) -> float:
        """Seconds until a token for ``key`` is there (0: now)."""
        tokens = self._tokens(key, self._now())
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def take(self, key: int) -> None:
        """Use a token of ``key`` (into debt when there is none)."""
        now = self._now()
        self._buckets[key] = (self._tokens(key, now) - 1, now)
        if len(self._buckets) > _PRUNE_AT:
            # A full bucket is the same as no bucket.
            self._buckets = {
                k: v for k, v in self._buckets.items() if self._tokens(k, now) < self._capacity
            }

    def _tokens(self, key: int, now: float) -> float:
        tokens, at = self._buckets.get(key, (self._capacity, now))
        return min(self._capacity, tokens + (now - at) * self._rate)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()


class FloodBudget:
    """The group and bot-wide buckets every reply of a channel draws from.

    Args:
        group_per_minute: Messages (posts and edits) per group chat per minute, bursts included.
        bot_per_second: Messages per second across all chats.
    """

    def __init__(
        self, *, group_per_minute: int = GROUP_PER_MINUTE, bot_per_second: int = BOT_PER_SECOND
    ) -> None:
        self._group = TokenBucket(group_per_minute / 60, group_per_minute)
        self._bot = TokenBucket(bot_per_second, bot_per_second)

    async def acquire(self, chat: int, *, group: bool, sure: bool) -> None:
        """Take a slot for a call to ``chat``.

        Args:
            chat: The chat id.
            group: A group chat (its own per-minute bucket applies).
            sure: Wait for the slot; otherwise a call that would have to wait is refused with
                :class:`~channels.base.ChannelError` ``retry_after`` (a streaming update that the
                next flush supersedes).
        """
        wait = max(self._bot.delay(0), self._group.delay(chat) if group else 0.0)
        if wait > 0 and not sure:
            raise ChannelError("telegram flood budget: waiting", retry_after=wait)
        self._bot.take(0)
        if group:
            self._group.take(chat)
        if wait > 0:
            await asyncio.sleep(wait)

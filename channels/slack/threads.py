"""Which threads the bot takes part in, so follow-ups there need no mention.

Threads this process answered in are remembered; any other thread is looked up once with
``conversations.replies`` (after a restart, or when another instance answered it, DESIGN.md §11).
A "no" is kept only briefly, because another instance may answer in that thread meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from channels.base import ChannelError

log = logging.getLogger(__name__)

MEMORY = 10_000
NEGATIVE_TTL_S = 30.0

Lookup = Callable[[str, str], Awaitable[bool]]
"""``(channel, thread_ts)`` → whether the bot wrote in that thread."""


class ThreadMemory:
    """A bounded memory of the bot's threads, backed by a lookup for the ones it forgot.

    Args:
        lookup: Asks Slack whether the bot wrote in a thread.
        capacity: How many threads are remembered (least recently used go first).
    """

    def __init__(self, lookup: Lookup, *, capacity: int = MEMORY) -> None:
        self._lookup = lookup
        self._capacity = capacity
        self._joined: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._absent: OrderedDict[tuple[str, str], float] = OrderedDict()  # → loop time of the "no"

    def note(self, channel: str, thread_ts: str) -> None:
        """The bot answers in this thread."""
        key = (channel, thread_ts)
        self._absent.pop(key, None)
        self._joined[key] = None
        self._joined.move_to_end(key)
        if len(self._joined) > self._capacity:
            self._joined.popitem(last=False)

    async def joined(self, channel: str, thread_ts: str) -> bool:
        """Whether the bot takes part in the thread (a failed lookup counts as no)."""
        key = (channel, thread_ts)
        if key in self._joined:
            self._joined.move_to_end(key)
            return True
        now = asyncio.get_running_loop().time()
        said_no = self._absent.get(key)
        if said_no is not None and now - said_no < NEGATIVE_TTL_S:
            return False
        try:
            found = await self._lookup(channel, thread_ts)
        except ChannelError as exc:
            log.warning("slack: could not read thread %s in %s: %s", thread_ts, channel, exc)
            return False
        if found:
            self.note(channel, thread_ts)
            return True
        self._absent[key] = now
        self._absent.move_to_end(key)
        if len(self._absent) > self._capacity:
            self._absent.popitem(last=False)
        return False

"""The inbound pipeline: an onion of middlewares in front of the dispatcher.

Each middleware is ``async def mw(message, call_next)`` and decides whether to pass the message on.
The order is written once, in :func:`bot.wiring.build_runtime`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from channels.base import InboundMessage

log = logging.getLogger(__name__)

Next = Callable[[InboundMessage], Awaitable[None]]
Middleware = Callable[[InboundMessage, Next], Awaitable[None]]


def compose(middlewares: Sequence[Middleware], endpoint: Next) -> Next:
    """Wrap ``endpoint`` so that ``middlewares[0]`` runs first."""
    handler = endpoint
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware, call_next: Next) -> Next:
    async def handler(message: InboundMessage) -> None:
        await middleware(message, call_next)

    return handler


async def ignore_bots(message: InboundMessage, call_next: Next) -> None:
    """Drop messages written by bots, this one included."""
    if message.author.is_bot:
        log.debug("ignored a bot message in %s", message.key)
        return
    await call_next(message)


class RecentIds:
    """In-memory dedupe of platform message ids (a bounded LRU)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._capacity = capacity

    async def __call__(self, message: InboundMessage, call_next: Next) -> None:
        """Pass ``message`` on unless its id was seen already."""
        ident = (message.key.platform, message.key.chat, message.message_id)
        if ident in self._seen:
            log.info("duplicate message %s in %s dropped", message.message_id, message.key)
            return
        self._seen[ident] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        await call_next(message)

"""The inbound pipeline: an onion of middlewares in front of the dispatcher.

Each middleware is ``async def mw(message, call_next)`` and decides whether to pass the message on.
The order is written once, in :func:`bot.assembly.build_runtime`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.inbox import Inbox
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


class DurableDedupe:
    """Drop a message whose platform id was already accepted, across restarts; keep the others in
    the inbox (:mod:`bot.inbox`) until they are answered.

    A message that a later middleware refuses (a rate limit) is settled at once, so it is not
    answered after a restart. One whose hand-over failed (the service is shutting down) stays
    pending: the next start answers it.
    """

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def __call__(self, message: InboundMessage, call_next: Next) -> None:
        """Claim the message id (a second claim is a duplicate), then pass it on."""
        if not await self._inbox.accept(message):
            log.info("replayed message %s in %s dropped", message.message_id, message.key)
            return
        await call_next(message)
        if not self._inbox.handed_over(message):
            await self._inbox.settle([message])

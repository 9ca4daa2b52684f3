"""The inbox: an accepted message is stored with its payload before it reaches a lane.

The dedupe claim and the inbox write are one insert (:meth:`Inbox.accept`), so a message is either
a duplicate (dropped) or pending in the store before any work starts: a crash after that point
cannot lose it (:mod:`bot.recovery` answers it at the next start). It stays pending until the turn
that answers it is stored (in the same transaction, :meth:`bot.store.base.Store.record_delivered_turn`),
or until it is settled otherwise: a command answered, a refusal, a flood notice.

Where the platform allows it, acceptance comes before the platform's acknowledgement: Telegram
confirms an update only with the next ``getUpdates``, after the handler ran. Slack and Discord
deliver before we see the event, so there the claim is as early as it can be.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bot.store.base import Store
from bot.store.ledger import InboxEntry, InboxRef
from channels.base import Author, InboundMessage, SessionKey


def ref_of(message: InboundMessage) -> InboxRef:
    """The inbox identity of ``message`` (the dedupe key: platform, chat, message id)."""
    return InboxRef(message.key.platform, message.key.chat, message.message_id)


def encode(message: InboundMessage) -> str:
    """``message`` as JSON (``received_ns`` is process-local and left out)."""
    return json.dumps(
        {
            "key": str(message.key),
            "message_id": message.message_id,
            "author": [message.author.id, message.author.name, message.author.is_bot],
            "text": message.text,
            "event_time": None if message.event_time is None else message.event_time.isoformat(),
            "is_direct": message.is_direct,
            "mentioned": message.mentioned,
            "parent": message.parent,
        },
        ensure_ascii=False,
    )


def decode(payload: str, received_ns: int) -> InboundMessage:
    """The message :func:`encode` wrote, received (for the TTFT timeline) at ``received_ns``.

    Raises:
        ValueError: ``payload`` is not such a message.
    """
    data: Any = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("inbox payload is not an object")
    author_id, author_name, is_bot = data["author"]
    stamp = data.get("event_time")
    return InboundMessage(
        key=SessionKey.parse(str(data["key"])),
        message_id=str(data["message_id"]),
        author=Author(str(author_id), str(author_name), is_bot=bool(is_bot)),
        text=str(data["text"]),
        received_ns=received_ns,
        event_time=None if stamp is None else datetime.fromisoformat(str(stamp)),
        is_direct=bool(data["is_direct"]),
        mentioned=bool(data["mentioned"]),
        parent=str(data.get("parent", "")),
    )


class Inbox:
    """Accepting, handing over and settling inbound messages.

    Args:
        store: Where the inbox lives.
        wall_ns: Wall-clock nanoseconds (acceptance time: order and age at recovery).
    """

    def __init__(self, store: Store, *, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self._store = store
        self._wall_ns = wall_ns
        # Accepted messages between the claim and the lane: the dedupe middleware asks whether
        # the rest of the pipeline handed each one over, and settles those it refused.
        self._handed_over: set[InboxRef] = set()

    async def accept(self, message: InboundMessage) -> bool:
        """Claim ``message`` and store it as pending; False for a duplicate."""
        entry = InboxEntry(ref_of(message), str(message.key), encode(message), self._wall_ns())
        return await self._store.accept_inbound(entry)

    def hand_over(self, message: InboundMessage) -> None:
        """``message`` entered its lane: it is settled when its turn is stored."""
        self._handed_over.add(ref_of(message))

    def handed_over(self, message: InboundMessage) -> bool:
        """Whether ``message`` entered its lane (and forget it: asked once, by the dedupe)."""
        ref = ref_of(message)
        if ref in self._handed_over:
            self._handed_over.discard(ref)
            return True
        return False

    async def settle(self, messages: Iterable[InboundMessage]) -> None:
        """Mark ``messages`` done without a stored turn (a command, a refusal, a notice)."""
        refs = [ref_of(m) for m in messages]
        if refs:
            await self._store.settle_inbound(refs)

    async def pending(self) -> list[InboxEntry]:
        """What is pending now, oldest first."""
        return await self._store.pending_inbound()

"""The delivery ledger of a turn: which platform messages its reply created, and what they show.

A :class:`DeliveryTracker` listens to the reply stream (``channels.base.DeliveryListener``) and
writes the turn's ledger row at the points a restart needs it, never before the first visible
token (the hot path):

* when the reply created a message (its first visible post, or a further part of a long answer),
  at the turn's next step: from then on a crash finalises that message instead of answering again;
* while the answer streams, at most once per ``snapshot_interval`` with the text so far (a crash
  then finalises from that text);
* right before the final platform call, as ``finishing`` with the whole answer and its footer;
* ``final`` (or ``failed``) in the transaction that stores the turn.

A reply that showed only ephemeral text (Telegram drafts) created no message: nothing is written
until ``finishing``, and a crash before that answers the message anew.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.inbox import ref_of
from bot.store.base import Store
from bot.store.ledger import Delivery, DeliveryState
from channels.base import InboundMessage

log = logging.getLogger(__name__)


class Ledger:
    """Makes a tracker per turn.

    Args:
        store: Where ledger rows go.
        snapshot_interval: Seconds between two writes of a streaming reply's text.
        monotonic: Seconds, for the interval.
    """

    def __init__(
        self,
        store: Store,
        *,
        snapshot_interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = snapshot_interval
        self._monotonic = monotonic
        self.writes = 0  # ledger rows written while streaming (not counting the turn's own)

    def track(self, turn_id: str, batch: Sequence[InboundMessage]) -> DeliveryTracker:
        """A tracker for the reply of turn ``turn_id``, which answers ``batch``."""
        return DeliveryTracker(self._write, self._interval, self._monotonic, turn_id, batch)

    async def _write(self, delivery: Delivery) -> None:
        self.writes += 1
        await self._store.save_delivery(delivery)


class DeliveryTracker:
    """One turn's ledger row in the making (a ``channels.base.DeliveryListener``)."""

    def __init__(
        self,
        write: Callable[[Delivery], Awaitable[None]],
        interval: float,
        monotonic: Callable[[], float],
        turn_id: str,
        batch: Sequence[InboundMessage],
    ) -> None:
        self._write = write
        self._interval = interval
        self._monotonic = monotonic
        self._turn_id = turn_id
        self._session_key = str(batch[-1].key)
        self._covers = tuple(ref_of(m) for m in batch)
        self._ids: list[str] = []
        self._written_ids = 0
        self._written_at: float | None = None
        self._written_len = 0

    @property
    def message_ids(self) -> tuple[str, ...]:
        """The platform messages the reply created so far."""
        return tuple(self._ids)

    def posted(self, message_id: str) -> None:
        """See ``channels.base.DeliveryListener``: the write follows at the turn's next step."""
        self._ids.append(message_id)

    async def progress(self, text: Sequence[str]) -> None:
        """After the reply took more text: write when it created a message since the last write,
        or when the snapshot interval has passed (only once a message exists)."""
        if not self._ids:
            return
        now = self._monotonic()
        new_message = len(self._ids) > self._written_ids
        due = self._written_at is None or now - self._written_at >= self._interval
        size = sum(len(part) for part in text)
        if not new_message and (not due or size == self._written_len):
            return
        await self._save("streaming", "".join(text))
        self._written_at, self._written_len = now, size

    async def finishing(self, text: str, tail: str) -> None:
        """The final platform call is next: ``text`` is the whole answer, ``tail`` its footer."""
        await self._save("finishing", text, tail)

    def final(self, text: str, *, failed: bool = False) -> Delivery:
        """The row stored with the turn (``final``, or ``failed`` when the answer was cut)."""
        return self._delivery("failed" if failed else "final", text, "")

    async def _save(self, state: DeliveryState, text: str, tail: str = "") -> None:
        delivery = self._delivery(state, text, tail)
        try:
            await self._write(delivery)
        except Exception:
            # The answer matters more than its crash insurance: a failed write is logged, the reply
            # goes on, and the next write brings the row up to date.
            log.exception("could not write the delivery ledger, session %s", self._session_key)
            return
        self._written_ids = len(delivery.message_ids)

    def _delivery(self, state: DeliveryState, text: str, tail: str) -> Delivery:
        return Delivery(
            self._turn_id,
            self._session_key,
            state,
            tuple(self._ids),
            text,
            tail,
            self._covers,
        )

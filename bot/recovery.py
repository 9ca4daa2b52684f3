"""Crash recovery at start: every message accepted and not answered before the restart is dealt
with once, in order per session, before any lane runs.

For the pending inbox messages of a turn, the delivery ledger (:mod:`bot.ledger`) tells what the
user saw when the process died:

* ``finishing``: the whole answer was on its way. Its messages are brought to the final form
  (writing what a message already shows changes nothing) and the turn is stored. A reply that
  had created no message before its final call (a Telegram draft) is taken as delivered: sending
  it again could show it twice, and a restart never answers twice.
* ``streaming`` with messages: the answer was cut. Its messages are finished from the stored text
  with :data:`CUT_NOTE`, and the turn is stored as interrupted.
* nothing created (no ledger row, or only ephemeral drafts): the user has nothing lasting, so the
  messages go back into their lane and are answered anew; past ``recovery_max_age`` they get
  :data:`APOLOGY` instead of a stale answer.

A channel without :class:`~channels.base.Recoverable` (the console) has no conversation to come
back to: its messages are dropped. A message whose channel is not configured now stays pending.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.clock import Clock
from agent.messages import ChatMessage, TextBlock
from agent.prompt import user_message
from bot.inbox import decode, ref_of
from bot.sessions import SessionPool
from bot.store.base import Store, TurnRecord
from bot.store.ledger import Delivery, InboxEntry
from channels.base import Channel, ChannelError, InboundMessage, Recoverable
from config import Settings

log = logging.getLogger(__name__)

CUT_NOTE = "… (cut short by a restart)"
APOLOGY = "Sorry, I restarted before I could answer this. Please ask again if it still matters."
CUT_MARKER = "[cut short by a restart]"


@dataclass
class _Group:
    """Pending messages that one turn answered (or that wait for one), oldest first."""

    turn_id: str | None
    entries: list[InboxEntry] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)


@dataclass
class RecoveryReport:
    """What one recovery did, by outcome (messages)."""

    finished: int = 0
    cut: int = 0
    rerun: int = 0
    apologised: int = 0
    dropped: int = 0
    kept: int = 0


class Recovery:
    """Loads the pending inbox before the channels start and resolves it once they have.

    Args:
        store: The inbox and the ledger.
        channels: By name.
        pool: Sessions (the stored turns of finished and cut replies go into their transcript).
        settings: ``sessions.recovery_max_age`` and the profiles.
        clock: Wall time for the stored user messages.
        wall_ns: Wall-clock nanoseconds (the age of a pending message).
    """

    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        pool: SessionPool,
        settings: Settings,
        clock: Clock,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._channels = channels
        self._pool = pool
        self._settings = settings
        self._clock = clock
        self._wall_ns = wall_ns
        self._max_age_ns = int(settings.sessions.recovery_max_age.total_seconds() * 1e9)

    async def load(self) -> list[InboxEntry]:
        """The pending inbox now (call it before the channels take new messages)."""
        return await self._store.pending_inbound()

    async def resolve(
        self, pending: Sequence[InboxEntry], rerun: Callable[[list[InboundMessage]], None]
    ) -> RecoveryReport:
        """Deal with ``pending``; messages to answer anew go to ``rerun``, per session in order."""
        report = RecoveryReport()
        if not pending:
            return report
        deliveries = await self._store.deliveries([e.turn_id for e in pending if e.turn_id])
        for session_groups in _by_session(pending).values():
            await self._session(session_groups, deliveries, rerun, report)
        log.info(
            "recovery: %d finished, %d cut short, %d answered anew, %d apologised for, "
            "%d dropped, %d kept for later",
            report.finished,
            report.cut,
            report.rerun,
            report.apologised,
            report.dropped,
            report.kept,
        )
        return report

    async def _session(
        self,
        groups: list[_Group],
        deliveries: Mapping[str, Delivery],
        rerun: Callable[[list[InboundMessage]], None],
        report: RecoveryReport,
    ) -> None:
        fresh: list[InboundMessage] = []
        stale: list[InboundMessage] = []
        now = self._wall_ns()
        for group in groups:
            if not self._decode(group, report):
                continue
            channel = self._channels.get(group.messages[-1].key.platform)
            if channel is None:
                report.kept += len(group.messages)  # the channel may be configured again
                continue
            if not isinstance(channel, Recoverable):
                report.dropped += len(group.messages)
                await self._store.settle_inbound([e.ref for e in group.entries])
                continue
            delivery = deliveries.get(group.turn_id or "")
            if delivery is not None and delivery.state in ("final", "failed"):
                # Stored with its turn; only the inbox mark was missed (a store written by hand).
                await self._store.settle_inbound([e.ref for e in group.entries])
                report.finished += len(group.messages)
            elif delivery is not None and (delivery.state == "finishing" or delivery.message_ids):
                await self._finish(channel, group, delivery, report)
            elif now - group.entries[0].accepted_ns > self._max_age_ns:
                stale.extend(group.messages)
            else:
                fresh.extend(group.messages)
        if stale:
            await self._apologise(stale, report)
        if fresh:
            report.rerun += len(fresh)
            rerun(fresh)

    def _decode(self, group: _Group, report: RecoveryReport) -> bool:
        received = time.perf_counter_ns()
        try:
            group.messages = [decode(e.payload, received) for e in group.entries]
        except (ValueError, KeyError, TypeError) as exc:
            log.error("recovery: unreadable inbox entry %s: %s", group.entries[0].ref, exc)
            report.dropped += len(group.entries)
            return False
        return True

    async def _finish(
        self, channel: Recoverable, group: _Group, delivery: Delivery, report: RecoveryReport
    ) -> None:
        message = group.messages[-1]
        finishing = delivery.state == "finishing"
        tail = delivery.tail if finishing else CUT_NOTE
        if delivery.message_ids:
            try:
                await channel.finalize(message, delivery.message_ids, delivery.text, tail)
            except ChannelError as exc:
                # Left as it was: trying again at every start would not make the platform agree.
                log.warning("recovery: could not finish the reply in %s: %s", message.key, exc)
        shown = delivery.text if finishing else f"{delivery.text}\n{CUT_MARKER}".strip()
        await self._store_turn(group, delivery, shown, "ok" if finishing else "interrupted")
        if finishing:
            report.finished += len(group.messages)
        else:
            report.cut += len(group.messages)

    async def _store_turn(self, group: _Group, delivery: Delivery, shown: str, status: str) -> None:
        """Store the turn the crash kept from being stored, so the transcript stays right."""
        message = group.messages[-1]
        key = message.key
        session, warm = await self._pool.acquire(key)
        profile, _ = self._settings.profile_for(
            key.platform, key.scope, key.chat, message.author.id
        )
        context = {"channel": key.platform, "author": message.author.name or message.author.id}
        sent = user_message("\n\n".join(m.text for m in group.messages), self._clock.now(), context)
        messages = (sent, ChatMessage("assistant", (TextBlock(shown or "[no text]"),)))
        record = TurnRecord(
            id=delivery.turn_id,
            session_id=session.id,
            ordinal=session.turn_count + 1,
            platform=key.platform,
            profile=profile,
            model="",
            warm=warm,
            status=status,
            created_at=datetime.now(UTC),
            segments=None,
            total_ns=0,
            error=None if status == "ok" else "cut short by a restart",
            user_id=message.author.id,
            user_name=message.author.name,
            workspace=key.scope,
        )
        final = Delivery(delivery.turn_id, delivery.session_key, "final", delivery.message_ids)
        await self._store.record_delivered_turn(
            record, messages, settled=[e.ref for e in group.entries], delivery=final
        )
        session.append(messages)

    async def _apologise(self, stale: list[InboundMessage], report: RecoveryReport) -> None:
        last = stale[-1]
        channel = self._channels[last.key.platform]
        try:
            await channel.notice(last, APOLOGY)
        except ChannelError as exc:
            log.warning("recovery: could not apologise in %s: %s", last.key, exc)
        await self._store.settle_inbound([ref_of(m) for m in stale])
        report.apologised += len(stale)


def _by_session(pending: Sequence[InboxEntry]) -> dict[str, list[_Group]]:
    """Pending entries per session, grouped by the turn that answers them, in order."""
    sessions: dict[str, list[_Group]] = {}
    for entry in pending:
        groups = sessions.setdefault(entry.session_key, [])
        if groups and groups[-1].turn_id == entry.turn_id:  # same turn, or both never shown
            groups[-1].entries.append(entry)
        else:
            groups.append(_Group(entry.turn_id, [entry]))
    return sessions

"""The storage interface. SQLite implements it today; a PostgreSQL store can serve several instances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from agent.messages import ChatMessage, Usage
from bot.store.ledger import Delivery, InboxEntry, InboxRef


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A persisted session: identity, per-session settings and its transcript."""

    id: str
    key: str
    created_at: datetime
    model_override: str | None = None
    summary: str = ""
    messages: tuple[ChatMessage, ...] = ()
    turn_count: int = 0


@dataclass(frozen=True, slots=True)
class Segments:
    """TTFT segments in nanoseconds; they add up to ``ttft`` exactly (see bot.timeline)."""

    queue: int
    session: int
    prepare: int
    model: int
    deliver: int

    @property
    def ttft(self) -> int:
        """Their sum: received → first visible."""
        return self.queue + self.session + self.prepare + self.model + self.deliver


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call of a turn."""

    name: str
    ok: bool
    duration_ns: int


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One turn as stored: what ran, how long each part took, what it cost."""

    id: str
    session_id: str
    ordinal: int
    platform: str
    profile: str
    model: str
    warm: bool
    status: str  # ok | failed | failed_partial | interrupted
    created_at: datetime
    segments: Segments | None  # None when nothing became visible
    total_ns: int
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    ingress_lag_ms: float | None = None
    tools: tuple[ToolCallRecord, ...] = field(default_factory=tuple)
    cost_usd: float = 0.0
    cache_savings_usd: float = 0.0
    user_id: str = ""  # who wrote the turn's message (budgets, /reset @user)
    user_name: str = ""  # their display name then
    workspace: str = ""  # the session key's scope: Slack team, Discord guild, Telegram bot

    @property
    def ttft_ns(self) -> int | None:
        """Time to first visible token, when there was one."""
        return self.segments.ttft if self.segments is not None else None


@dataclass(frozen=True, slots=True)
class RetentionCounts:
    """What one retention pass deleted (rows per table)."""

    messages: int = 0
    turns: int = 0
    sessions: int = 0
    inbound: int = 0


class Store(Protocol):
    """Persistence of sessions, transcripts and turns."""

    async def load_session(self, key: str) -> SessionRecord | None:
        """The open session for ``key`` with its full transcript, or None."""
        ...

    async def create_session(self, record: SessionRecord) -> None:
        """Persist a new open session (an older open session of the key is closed)."""
        ...

    async def close_session(self, session_id: str) -> None:
        """Mark a session closed (``/new``); its history stays until retention removes it."""
        ...

    async def set_model_override(self, session_id: str, value: str | None) -> None:
        """Persist a ``/model`` choice."""
        ...

    async def record_turn(self, turn: TurnRecord, messages: Sequence[ChatMessage]) -> None:
        """Append the turn's messages and the turn itself, in one transaction."""
        ...

    async def turns(
        self, *, since: datetime | None = None, session_id: str | None = None
    ) -> list[TurnRecord]:
        """Stored turns, oldest first."""
        ...

    async def compact_session(self, session_id: str, summary: str, keep_messages: int) -> None:
        """Set the summary; only the last ``keep_messages`` messages load from now on (the older
        ones stay stored)."""
        ...

    async def claim_inbound(self, platform: str, chat: str, message_id: str) -> bool:
        """Record an inbound message id; False when it was claimed before (a duplicate)."""
        ...

    async def delete_history_before(self, cutoff: datetime) -> RetentionCounts:
        """Delete messages, turns and inbound ids created before ``cutoff``, and sessions closed
        before it (retention). Open sessions stay; they only lose their old messages."""
        ...

    async def record_heartbeat(self, at: datetime) -> None:
        """A real write, so the heartbeat knows the store still takes writes."""
        ...

    async def maintain(self) -> None:
        """Periodic upkeep: checkpoint the write-ahead log and let the database optimise itself."""
        ...

    # -- inbox and delivery ledger (bot/store/ledger.py) ------------------------------------------

    async def accept_inbound(self, entry: InboxEntry) -> bool:
        """Claim an inbound message and keep it as pending; False when it was claimed before."""
        ...

    async def settle_inbound(self, refs: Sequence[InboxRef]) -> None:
        """Mark pending inbox messages done (refused, answered by a command, given up on)."""
        ...

    async def pending_inbound(self) -> list[InboxEntry]:
        """Inbox messages not answered yet, oldest first (crash recovery)."""
        ...

    async def save_delivery(self, delivery: Delivery) -> None:
        """Write the ledger row of a reply; its inbox messages point at it from now on."""
        ...

    async def deliveries(self, turn_ids: Sequence[str]) -> dict[str, Delivery]:
        """The ledger rows of ``turn_ids`` that exist."""
        ...

    async def record_delivered_turn(
        self,
        turn: TurnRecord,
        messages: Sequence[ChatMessage],
        *,
        settled: Sequence[InboxRef],
        delivery: Delivery | None,
    ) -> None:
        """:meth:`record_turn`, the inbox messages it answers marked done and its ledger row
        written, in one transaction."""
        ...

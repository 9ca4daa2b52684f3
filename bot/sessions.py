"""Sessions kept warm in memory between messages (DESIGN.md §4).

A warm hit costs a dictionary lookup: the transcript, the summary and the model choice are already in
memory, so turn 2+ does no store read. A miss restores the session from the store (cold). Eviction
drops memory only; everything was persisted as it happened.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.messages import ChatMessage
from bot.store.base import SessionRecord, Store
from channels.base import SessionKey


@dataclass
class Session:
    """A live conversation. Only its lane mutates it (one turn per session at a time)."""

    id: str
    key: SessionKey
    transcript: tuple[ChatMessage, ...] = ()
    model_override: str | None = None
    summary: str = ""
    turn_count: int = 0
    last_used: float = field(default_factory=time.monotonic)
    last_turn_at: float = 0.0
    """``time.monotonic()`` when its last turn was stored (0: none since it was loaded)."""

    def append(self, messages: tuple[ChatMessage, ...]) -> None:
        """Extend the transcript after a stored turn."""
        self.transcript = (*self.transcript, *messages)
        self.turn_count += 1
        self.last_turn_at = time.monotonic()


@dataclass(frozen=True, slots=True)
class Evictions:
    """Sessions dropped from memory by one pass, by reason."""

    idle: int = 0
    capacity: int = 0


class SessionPool:
    """An LRU of warm sessions with capacity and idle TTL, backed by the store.

    Attributes:
        evicted: Sessions dropped from memory since start, by reason (``idle``, ``capacity``).
    """

    def __init__(
        self,
        store: Store,
        *,
        capacity: int,
        idle_ttl_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._capacity = capacity
        self._idle_ttl_s = idle_ttl_s
        self._monotonic = monotonic
        self._warm: OrderedDict[SessionKey, Session] = OrderedDict()
        self.evicted: dict[str, int] = {"idle": 0, "capacity": 0}

    def __len__(self) -> int:
        return len(self._warm)

    def peek(self, key: SessionKey) -> Session | None:
        """The warm session for ``key`` without touching recency, if any."""
        return self._warm.get(key)

    async def acquire(self, key: SessionKey) -> tuple[Session, bool]:
        """The session for ``key`` and whether it was warm."""
        session = self._warm.get(key)
        if session is not None:
            self._warm.move_to_end(key)
            session.last_used = self._monotonic()
            return session, True
        record = await self._store.load_session(str(key))
        if record is None:
            session = await self._create(key)
        else:
            session = Session(
                id=record.id,
                key=key,
                transcript=record.messages,
                model_override=record.model_override,
                summary=record.summary,
                turn_count=record.turn_count,
            )
        self._admit(session)
        return session, False

    async def reset(self, key: SessionKey) -> Session:
        """Start a fresh session for ``key`` (``/new``); the old one is closed in the store."""
        session = await self._create(key)
        self._admit(session)
        return session

    def evict_idle(self) -> int:
        """Drop sessions idle longer than the TTL; returns how many."""
        cutoff = self._monotonic() - self._idle_ttl_s
        stale = [k for k, s in self._warm.items() if s.last_used < cutoff]
        for key in stale:
            del self._warm[key]
        self.evicted["idle"] += len(stale)
        return len(stale)

    def prune(self) -> Evictions:
        """Drop idle sessions, then the least recently used beyond capacity (the pruning job).

        Memory only: everything was persisted as it happened, so a pruned session comes back cold
        from the store on its next message.
        """
        idle = self.evict_idle()
        return Evictions(idle=idle, capacity=self._trim())

    async def _create(self, key: SessionKey) -> Session:
        session = Session(id=uuid.uuid4().hex, key=key, last_used=self._monotonic())
        await self._store.create_session(
            SessionRecord(id=session.id, key=str(key), created_at=datetime.now(UTC))
        )
        return session

    def _admit(self, session: Session) -> None:
        session.last_used = self._monotonic()
        self._warm[session.key] = session
        self._warm.move_to_end(session.key)
        self._trim()

    def _trim(self) -> int:
        dropped = 0
        while len(self._warm) > self._capacity:
            self._warm.popitem(last=False)
            dropped += 1
        self.evicted["capacity"] += dropped
        return dropped

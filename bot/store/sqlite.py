"""SQLite store over aiosqlite: WAL, one connection (SQLite has one writer), versioned migrations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from agent.messages import ChatMessage, Usage
from bot.store import ledger
from bot.store.base import (
    RetentionCounts,
    Segments,
    SessionRecord,
    ToolCallRecord,
    TurnRecord,
)
from bot.store.ledger import Delivery, InboxEntry, InboxRef
from bot.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 5000


class SqliteStore:
    """The embedded default store. Use as ``async with SqliteStore(path) as store``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        # One connection serialises statements; the lock keeps transactions from interleaving.
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the database file (creating its directory) and migrate it."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self._path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await db.execute("PRAGMA foreign_keys=ON")
            await _migrate(db)
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def load_session(self, key: str) -> SessionRecord | None:
        """See :meth:`bot.store.base.Store.load_session`."""
        async with self.db.execute(
            "SELECT id, created_at, model_override, summary, compacted_seq FROM sessions"
            " WHERE key = ? AND closed_at IS NULL",
            (key,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        session_id = str(row[0])
        async with self.db.execute(
            "SELECT content FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq",
            (session_id, int(row[4])),
        ) as cursor:
            messages = tuple(ChatMessage.from_json(str(r[0])) for r in await cursor.fetchall())
        async with self.db.execute(
            "SELECT COALESCE(MAX(ordinal), 0) FROM turns WHERE session_id = ?", (session_id,)
        ) as cursor:
            count_row = await cursor.fetchone()
        return SessionRecord(
            id=session_id,
            key=key,
            created_at=datetime.fromisoformat(str(row[1])),
            model_override=None if row[2] is None else str(row[2]),
            summary=str(row[3]),
            messages=messages,
            turn_count=int(count_row[0]) if count_row else 0,
        )

    async def create_session(self, record: SessionRecord) -> None:
        """See :meth:`bot.store.base.Store.create_session`."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE sessions SET closed_at = ? WHERE key = ? AND closed_at IS NULL",
                (record.created_at.isoformat(), record.key),
            )
            await db.execute(
                "INSERT INTO sessions (id, key, created_at, model_override, summary)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.key,
                    record.created_at.isoformat(),
                    record.model_override,
                    record.summary,
                ),
            )

    async def close_session(self, session_id: str) -> None:
        """See :meth:`bot.store.base.Store.close_session`."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE sessions SET closed_at = datetime('now') WHERE id = ? AND closed_at IS NULL",
                (session_id,),
            )

    async def set_model_override(self, session_id: str, value: str | None) -> None:
        """See :meth:`bot.store.base.Store.set_model_override`."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE sessions SET model_override = ? WHERE id = ?", (value, session_id)
            )

    async def record_turn(self, turn: TurnRecord, messages: Sequence[ChatMessage]) -> None:
        """See :meth:`bot.store.base.Store.record_turn`."""
        async with self.transaction() as db:
            await _append_turn(db, turn, messages)

    async def turns(
        self, *, since: datetime | None = None, session_id: str | None = None
    ) -> list[TurnRecord]:
        """See :meth:`bot.store.base.Store.turns`."""
        query = f"SELECT {_TURN_COLUMNS} FROM turns WHERE 1=1"
        params: list[str] = []
        if since is not None:
            query += " AND created_at >= ?"
            params.append(since.isoformat())
        if session_id is not None:
            query += " AND session_id = ?"
            params.append(session_id)
        query += " ORDER BY created_at, ordinal"
        async with self.db.execute(query, params) as cursor:
            return [_turn_from_row(r) for r in await cursor.fetchall()]

    async def compact_session(self, session_id: str, summary: str, keep_messages: int) -> None:
        """See :meth:`bot.store.base.Store.compact_session`."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE sessions SET summary = ?, compacted_seq = MAX(0, COALESCE("
                "(SELECT MAX(seq) FROM messages WHERE session_id = ?), 0) - ?) WHERE id = ?",
                (summary, session_id, keep_messages, session_id),
            )

    async def claim_inbound(self, platform: str, chat: str, message_id: str) -> bool:
        """See :meth:`bot.store.base.Store.claim_inbound`."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO inbound (platform, chat, message_id, received_at)"
                " VALUES (?, ?, ?, datetime('now')) ON CONFLICT DO NOTHING",
                (platform, chat, message_id),
            )
            return cursor.rowcount == 1

    def transaction(self) -> _Transaction:
        """A write transaction (`BEGIN IMMEDIATE`), serialised with every other one."""
        return _Transaction(self.db, self._lock)

    async def delete_history_before(self, cutoff: datetime) -> RetentionCounts:
        """See :meth:`bot.store.base.Store.delete_history_before`."""
        # Turns and messages carry our own UTC ISO stamps, so text order is time order (and the
        # index on turns.created_at serves); the other columns mix formats, julianday reads both.
        stamp = cutoff.astimezone(UTC).isoformat()
        async with self.transaction() as db:
            messages = await db.execute("DELETE FROM messages WHERE created_at < ?", (stamp,))
            turns = await db.execute("DELETE FROM turns WHERE created_at < ?", (stamp,))
            sessions = await db.execute(
                "DELETE FROM sessions WHERE closed_at IS NOT NULL"
                " AND julianday(closed_at) < julianday(?)",
                (stamp,),
            )
            inbound = await db.execute(
                "DELETE FROM inbound WHERE julianday(received_at) < julianday(?)", (stamp,)
            )
            await ledger.prune(db, cutoff)
            return RetentionCounts(
                messages=messages.rowcount,
                turns=turns.rowcount,
                sessions=sessions.rowcount,
                inbound=inbound.rowcount,
            )

    async def record_heartbeat(self, at: datetime) -> None:
        """See :meth:`bot.store.base.Store.record_heartbeat`."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO heartbeat (id, beat_at) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
                (at.isoformat(),),
            )

    async def maintain(self) -> None:
        """See :meth:`bot.store.base.Store.maintain`."""
        # Under the transaction lock: a checkpoint cannot complete inside an open transaction.
        async with self._lock:
            await self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self.db.execute("PRAGMA optimize")

    # -- inbox and delivery ledger: the SQL is in bot/store/ledger.py -----------------------------

    async def accept_inbound(self, entry: InboxEntry) -> bool:
        """See :meth:`bot.store.base.Store.accept_inbound`."""
        async with self.transaction() as db:
            return await ledger.accept(db, entry)

    async def settle_inbound(self, refs: Sequence[InboxRef]) -> None:
        """See :meth:`bot.store.base.Store.settle_inbound`."""
        async with self.transaction() as db:
            await ledger.settle(db, refs)

    async def pending_inbound(self) -> list[InboxEntry]:
        """See :meth:`bot.store.base.Store.pending_inbound`."""
        return await ledger.pending(self.db)

    async def save_delivery(self, delivery: Delivery) -> None:
        """See :meth:`bot.store.base.Store.save_delivery`."""
        async with self.transaction() as db:
            await ledger.save(db, delivery, link=True)

    async def deliveries(self, turn_ids: Sequence[str]) -> dict[str, Delivery]:
        """See :meth:`bot.store.base.Store.deliveries`."""
        return await ledger.load(self.db, turn_ids)

    async def record_delivered_turn(
        self,
        turn: TurnRecord,
        messages: Sequence[ChatMessage],
        *,
        settled: Sequence[InboxRef],
        delivery: Delivery | None,
    ) -> None:
        """See :meth:`bot.store.base.Store.record_delivered_turn`."""
        async with self.transaction() as db:
            await _append_turn(db, turn, messages)
            await ledger.settle(db, settled)
            if delivery is not None:
                await ledger.save(db, delivery, link=False)


async def _append_turn(
    db: aiosqlite.Connection, turn: TurnRecord, messages: Sequence[ChatMessage]
) -> None:
    created = turn.created_at.isoformat()
    async with db.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session_id = ?", (turn.session_id,)
    ) as cursor:
        row = await cursor.fetchone()
    seq = int(row[0]) if row else 0
    await db.executemany(
        "INSERT INTO messages (session_id, seq, turn_id, role, content, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (turn.session_id, seq + i, turn.id, m.role, m.to_json(), created)
            for i, m in enumerate(messages, start=1)
        ],
    )
    await db.execute(_INSERT_TURN, _turn_row(turn))


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK``), one at a time on the connection."""

    def __init__(self, db: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        self._db = db
        self._lock = lock

    async def __aenter__(self) -> aiosqlite.Connection:
        await self._lock.acquire()
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )


_TURN_FIELDS = [
    "id",
    "session_id",
    "ordinal",
    "platform",
    "profile",
    "model",
    "warm",
    "status",
    "error",
    "created_at",
    "queue_ns",
    "session_ns",
    "prepare_ns",
    "model_ns",
    "deliver_ns",
    "ttft_ns",
    "total_ns",
    "ingress_lag_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tools",
    "cost_usd",
    "cache_savings_usd",
    "user_id",
    "user_name",
    "workspace",
]
_TURN_COLUMNS = ", ".join(_TURN_FIELDS)
_INSERT_TURN = (
    f"INSERT INTO turns ({_TURN_COLUMNS}) VALUES ({', '.join('?' for _ in _TURN_FIELDS)})"
)

SqlValue = str | int | float | None


def _turn_row(turn: TurnRecord) -> tuple[SqlValue, ...]:
    seg = turn.segments
    parts: tuple[SqlValue, ...] = (
        (seg.queue, seg.session, seg.prepare, seg.model, seg.deliver, seg.ttft)
        if seg is not None
        else (None,) * 6
    )
    tools = json.dumps([[t.name, t.ok, t.duration_ns] for t in turn.tools])
    return (
        turn.id,
        turn.session_id,
        turn.ordinal,
        turn.platform,
        turn.profile,
        turn.model,
        int(turn.warm),
        turn.status,
        turn.error,
        turn.created_at.isoformat(),
        *parts,
        turn.total_ns,
        turn.ingress_lag_ms,
        turn.usage.input_tokens,
        turn.usage.output_tokens,
        turn.usage.cache_read_tokens,
        turn.usage.cache_write_tokens,
        tools,
        turn.cost_usd,
        turn.cache_savings_usd,
        turn.user_id,
        turn.user_name,
        turn.workspace,
    )


def _turn_from_row(row: aiosqlite.Row | tuple[SqlValue, ...]) -> TurnRecord:
    values = dict(zip(_TURN_FIELDS, row, strict=True))
    segments = None
    if values["ttft_ns"] is not None:
        segments = Segments(
            queue=int(values["queue_ns"] or 0),
            session=int(values["session_ns"] or 0),
            prepare=int(values["prepare_ns"] or 0),
            model=int(values["model_ns"] or 0),
            deliver=int(values["deliver_ns"] or 0),
        )
    return TurnRecord(
        id=str(values["id"]),
        session_id=str(values["session_id"]),
        ordinal=int(values["ordinal"] or 0),
        platform=str(values["platform"]),
        profile=str(values["profile"]),
        model=str(values["model"]),
        warm=bool(values["warm"]),
        status=str(values["status"]),
        error=None if values["error"] is None else str(values["error"]),
        created_at=datetime.fromisoformat(str(values["created_at"])),
        segments=segments,
        total_ns=int(values["total_ns"] or 0),
        ingress_lag_ms=None
        if values["ingress_lag_ms"] is None
        else float(values["ingress_lag_ms"]),
        usage=Usage(
            int(values["input_tokens"] or 0),
            int(values["output_tokens"] or 0),
            int(values["cache_read_tokens"] or 0),
            int(values["cache_write_tokens"] or 0),
        ),
        tools=tuple(
            ToolCallRecord(str(n), bool(ok), int(d))
            for n, ok, d in json.loads(str(values["tools"]))
        ),
        cost_usd=float(values["cost_usd"] or 0.0),
        cache_savings_usd=float(values["cache_savings_usd"] or 0.0),
        user_id=str(values["user_id"] or ""),
        user_name=str(values["user_name"] or ""),
        workspace=str(values["workspace"] or ""),
    )

"""SQLite store: WAL, versioned migrations, reads over aiosqlite, writes in one writer thread.

The store's own writes (the inbox, turns, the delivery ledger, sessions) each run as one
synchronous transaction in :class:`~bot.store.writer.SqliteWriter`, so the event loop awaits once
per write and no lock is held across its turns. Other modules' writes use :meth:`transaction`
on the aiosqlite connection; the two kinds exclude each other (see bot/store/writer.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import aiosqlite

from agent.messages import ChatMessage
from bot.store import ledger
from bot.store.base import RetentionCounts, SessionRecord, TurnRecord
from bot.store.ledger import Delivery, InboxEntry, InboxRef
from bot.store.migrations import MIGRATIONS
from bot.store.transcript import TURN_COLUMNS, SqlValue, append_turn, turn_from_row
from bot.store.writer import NORMAL, URGENT, SqliteWriter

BUSY_TIMEOUT_MS = 5000

T = TypeVar("T")


class SqliteStore:
    """The embedded default store. Use as ``async with SqliteStore(path) as store``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._writer = SqliteWriter(path, busy_timeout_ms=BUSY_TIMEOUT_MS)
        # Keeps the async transactions (on the one aiosqlite connection) from interleaving.
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
            await self._writer.start()  # after the migrations: it writes to their tables
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def close(self) -> None:
        """Finish the queued writes and close both connections (idempotent)."""
        await self._writer.close()
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The aiosqlite connection: for reads, and for writes inside :meth:`transaction`."""
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
        await self.write(partial(_create_session, record=record))

    async def close_session(self, session_id: str) -> None:
        """See :meth:`bot.store.base.Store.close_session`."""
        await self._write(
            "UPDATE sessions SET closed_at = datetime('now') WHERE id = ? AND closed_at IS NULL",
            (session_id,),
        )

    async def set_model_override(self, session_id: str, value: str | None) -> None:
        """See :meth:`bot.store.base.Store.set_model_override`."""
        await self._write(
            "UPDATE sessions SET model_override = ? WHERE id = ?", (value, session_id)
        )

    async def record_turn(self, turn: TurnRecord, messages: Sequence[ChatMessage]) -> None:
        """See :meth:`bot.store.base.Store.record_turn`."""
        await self.write(partial(append_turn, turn=turn, messages=messages))

    async def turns(
        self, *, since: datetime | None = None, session_id: str | None = None
    ) -> list[TurnRecord]:
        """See :meth:`bot.store.base.Store.turns`."""
        query = f"SELECT {TURN_COLUMNS} FROM turns WHERE 1=1"
        params: list[str] = []
        if since is not None:
            query += " AND created_at >= ?"
            params.append(since.isoformat())
        if session_id is not None:
            query += " AND session_id = ?"
            params.append(session_id)
        query += " ORDER BY created_at, ordinal"
        async with self.db.execute(query, params) as cursor:
            return [turn_from_row(r) for r in await cursor.fetchall()]

    async def compact_session(self, session_id: str, summary: str, keep_messages: int) -> None:
        """See :meth:`bot.store.base.Store.compact_session`."""
        await self._write(
            "UPDATE sessions SET summary = ?, compacted_seq = MAX(0, COALESCE("
            "(SELECT MAX(seq) FROM messages WHERE session_id = ?), 0) - ?) WHERE id = ?",
            (summary, session_id, keep_messages, session_id),
        )

    async def claim_inbound(self, platform: str, chat: str, message_id: str) -> bool:
        """See :meth:`bot.store.base.Store.claim_inbound`."""
        inserted = await self._write(
            "INSERT INTO inbound (platform, chat, message_id, received_at)"
            " VALUES (?, ?, ?, datetime('now')) ON CONFLICT DO NOTHING",
            (platform, chat, message_id),
            urgent=True,
        )
        return inserted == 1

    async def write(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        urgent: bool = False,
        statement: bool = False,
    ) -> T:
        """Run ``fn`` as one write transaction in the writer thread, awaited once.

        ``fn`` gets the writer's ``sqlite3`` connection inside ``BEGIN IMMEDIATE`` and must be
        synchronous; ``COMMIT`` follows when it returns, ``ROLLBACK`` when it raises. Writes of
        both kinds (this and :meth:`transaction`) run one after another, never interleaved.

        Args:
            fn: The transaction's statements.
            urgent: Run before the ordinary writes waiting at the time (the inbox insert).
            statement: ``fn`` runs exactly one statement, committed by SQLite on its own (see
                :meth:`SqliteWriter.run`).

        Returns:
            What ``fn`` returned.

        Raises:
            sqlite3.Error: From ``fn``, ``BEGIN`` or ``COMMIT``; nothing of ``fn`` was kept.
            WriterClosedError: The store is not open.
        """
        return await self._writer.run(
            fn, priority=URGENT if urgent else NORMAL, statement=statement
        )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) on :attr:`db`, serialised with every other
        one, the writer thread's included.

        Each statement in it is an awaited round trip with the write lock held, so the store's
        own hot-path writes do not use it (they run in the writer thread in one call).
        """
        async with self._lock, self._writer.hold():
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def delete_history_before(self, cutoff: datetime) -> RetentionCounts:
        """See :meth:`bot.store.base.Store.delete_history_before`."""
        return await self.write(partial(_delete_history, cutoff=cutoff))

    async def record_heartbeat(self, at: datetime) -> None:
        """See :meth:`bot.store.base.Store.record_heartbeat`."""
        # An async transaction on purpose: it writes through the aiosqlite connection and, by
        # parking the writer thread first, also proves that thread is still taking work.
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO heartbeat (id, beat_at) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
                (at.isoformat(),),
            )

    async def maintain(self) -> None:
        """See :meth:`bot.store.base.Store.maintain`."""
        # With no write transaction open on either connection (a checkpoint cannot complete
        # inside one), and the writer parked so that none starts.
        async with self._lock, self._writer.hold():
            await self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self.db.execute("PRAGMA optimize")

    # -- inbox and delivery ledger: the SQL is in bot/store/ledger.py -----------------------------

    async def accept_inbound(self, entry: InboxEntry) -> bool:
        """See :meth:`bot.store.base.Store.accept_inbound`."""
        # URGENT: this insert is on the time-to-first-token path; turn records can wait.
        return await self.write(partial(ledger.accept, entry=entry), urgent=True, statement=True)

    async def settle_inbound(self, refs: Sequence[InboxRef]) -> None:
        """See :meth:`bot.store.base.Store.settle_inbound`."""
        await self.write(partial(ledger.settle, refs=refs))

    async def pending_inbound(self) -> list[InboxEntry]:
        """See :meth:`bot.store.base.Store.pending_inbound`."""
        return await ledger.pending(self.db)

    async def save_delivery(self, delivery: Delivery) -> None:
        """See :meth:`bot.store.base.Store.save_delivery`."""
        await self.write(partial(ledger.save, delivery=delivery, link=True))

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

        def write(conn: sqlite3.Connection) -> None:
            append_turn(conn, turn, messages)
            ledger.settle(conn, settled)
            if delivery is not None:
                ledger.save(conn, delivery, link=False)

        await self.write(write)

    async def _write(self, sql: str, params: Sequence[SqlValue], *, urgent: bool = False) -> int:
        """One statement as a transaction of its own in the writer thread; its row count."""
        return await self.write(
            partial(_rowcount, sql=sql, params=params), urgent=urgent, statement=True
        )


def _rowcount(conn: sqlite3.Connection, *, sql: str, params: Sequence[SqlValue]) -> int:
    return conn.execute(sql, params).rowcount


def _create_session(conn: sqlite3.Connection, *, record: SessionRecord) -> None:
    created = record.created_at.isoformat()
    conn.execute(
        "UPDATE sessions SET closed_at = ? WHERE key = ? AND closed_at IS NULL",
        (created, record.key),
    )
    conn.execute(
        "INSERT INTO sessions (id, key, created_at, model_override, summary)"
        " VALUES (?, ?, ?, ?, ?)",
        (record.id, record.key, created, record.model_override, record.summary),
    )


def _delete_history(conn: sqlite3.Connection, *, cutoff: datetime) -> RetentionCounts:
    # Turns and messages carry our own UTC ISO stamps, so text order is time order (and the
    # index on turns.created_at serves); the other columns mix formats, julianday reads both.
    stamp = cutoff.astimezone(UTC).isoformat()
    messages = conn.execute("DELETE FROM messages WHERE created_at < ?", (stamp,))
    turns = conn.execute("DELETE FROM turns WHERE created_at < ?", (stamp,))
    sessions = conn.execute(
        "DELETE FROM sessions WHERE closed_at IS NOT NULL AND julianday(closed_at) < julianday(?)",
        (stamp,),
    )
    inbound = conn.execute(
        "DELETE FROM inbound WHERE julianday(received_at) < julianday(?)", (stamp,)
    )
    ledger.prune(conn, cutoff)
    return RetentionCounts(
        messages=messages.rowcount,
        turns=turns.rowcount,
        sessions=sessions.rowcount,
        inbound=inbound.rowcount,
    )


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )

"""Reminders in SQLite: the source of truth the scheduler is rebuilt from at every start.

A row is ``pending`` until it is claimed for delivery (``fired``), cancelled, or given up on after
failed deliveries (``failed``). Claiming is one conditional UPDATE, so a reminder is handed to the
channel at most once however often its job is registered or run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from bot.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class ReminderRow:
    """A stored reminder."""

    id: int
    session_key: str
    user_id: str
    text: str
    due_at: datetime
    state: str
    attempts: int


_COLUMNS = "id, session_key, user_id, text, due_at, state, attempts"


class SqliteReminders:
    """Reminder rows on a :class:`SqliteStore` connection (and its write lock)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def add(
        self, session_key: str, user_id: str, text: str, due_at: datetime, now: datetime
    ) -> ReminderRow:
        """Insert a pending reminder."""
        async with (
            self._store.transaction() as db,
            db.execute(
                "INSERT INTO reminders (session_key, user_id, text, due_at, created_at)"
                f" VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                (session_key, user_id, text, _utc(due_at), _utc(now)),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None  # RETURNING yields the inserted row
        return _row(row)

    async def get(self, reminder_id: int) -> ReminderRow | None:
        """One reminder, in any state."""
        async with self._store.db.execute(
            f"SELECT {_COLUMNS} FROM reminders WHERE id = ?", (reminder_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _row(row)

    async def pending(self, session_key: str | None = None) -> list[ReminderRow]:
        """Pending reminders (of one conversation, or all), soonest first."""
        sql = f"SELECT {_COLUMNS} FROM reminders WHERE state = 'pending'"
        params: tuple[str, ...] = ()
        if session_key is not None:
            sql += " AND session_key = ?"
            params = (session_key,)
        async with self._store.db.execute(sql + " ORDER BY due_at, id", params) as cursor:
            return [_row(r) for r in await cursor.fetchall()]

    async def count_pending(self, session_key: str) -> int:
        """How many reminders of a conversation are pending."""
        async with self._store.db.execute(
            "SELECT COUNT(*) FROM reminders WHERE state = 'pending' AND session_key = ?",
            (session_key,),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def cancel(self, reminder_id: int, session_key: str) -> bool:
        """Cancel a pending reminder of ``session_key``; whether one was."""
        async with self._store.transaction() as db:
            cursor = await db.execute(
                "UPDATE reminders SET state = 'cancelled'"
                " WHERE id = ? AND session_key = ? AND state = 'pending'",
                (reminder_id, session_key),
            )
            return cursor.rowcount == 1

    async def claim(self, reminder_id: int, now: datetime) -> ReminderRow | None:
        """Mark a pending reminder fired; the row when this call won it, else None."""
        async with (
            self._store.transaction() as db,
            db.execute(
                "UPDATE reminders SET state = 'fired', fired_at = ?, attempts = attempts + 1"
                f" WHERE id = ? AND state = 'pending' RETURNING {_COLUMNS}",
                (_utc(now), reminder_id),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else _row(row)

    async def retry(self, reminder_id: int, due_at: datetime, error: str) -> None:
        """Put a claimed reminder whose delivery failed back to pending, due again at ``due_at``."""
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE reminders SET state = 'pending', due_at = ?, fired_at = NULL, error = ?"
                " WHERE id = ? AND state = 'fired'",
                (_utc(due_at), error, reminder_id),
            )

    async def fail(self, reminder_id: int, error: str) -> None:
        """Give up on a claimed reminder whose deliveries kept failing."""
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE reminders SET state = 'failed', error = ? WHERE id = ? AND state = 'fired'",
                (error, reminder_id),
            )


def _utc(moment: datetime) -> str:
    # Stored in UTC, so that text order is time order (ORDER BY due_at).
    return moment.astimezone(UTC).isoformat()


def _row(row: aiosqlite.Row | tuple[object, ...]) -> ReminderRow:
    return ReminderRow(
        id=int(str(row[0])),
        session_key=str(row[1]),
        user_id=str(row[2]),
        text=str(row[3]),
        due_at=datetime.fromisoformat(str(row[4])),
        state=str(row[5]),
        attempts=int(str(row[6])),
    )

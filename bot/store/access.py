"""Persistence for access control: pairing codes, approved users, one-time notices, token usage.

A separate interface from :class:`bot.store.base.Store` because only access control needs it; the
SQLite implementation shares the store's connection (and its write lock), so the CLI
(``hearth pair approve``) and the running service see the same rows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal, Protocol

from bot.store.sqlite import SqliteStore

ApprovalStatus = Literal["approved", "unknown", "expired", "used"]


@dataclass(frozen=True, slots=True)
class PairingCode:
    """A code handed to a stranger; an admin's approval of it admits the user.

    Attributes:
        code: The code itself (upper case, no separators).
        platform: Where the user wrote.
        user_id: The user's platform id.
        user_name: Their display name when the code was issued (for the admin's list only).
        chat_key: The session key of the DM the code was sent to (the approval is announced there).
        created_at: When it was issued.
        expires_at: When it stops working.
        used_at: When it was approved, or None.
    """

    code: str
    platform: str
    user_id: str
    user_name: str
    chat_key: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApprovedUser:
    """A user admitted by pairing."""

    platform: str
    user_id: str
    user_name: str
    approved_at: datetime
    approved_by: str


@dataclass(frozen=True, slots=True)
class TokensUsed:
    """Budget tokens (all but cache reads) of one user and of their workspace."""

    user: int
    workspace: int


@dataclass(frozen=True, slots=True)
class Approval:
    """The outcome of approving a code; ``code`` is None when it was unknown."""

    status: ApprovalStatus
    code: PairingCode | None = None


class AccessStore(Protocol):
    """What access control keeps across restarts and shares with the CLI."""

    async def is_approved(self, platform: str, user_id: str) -> bool:
        """Whether the user was admitted by pairing."""
        ...

    async def pending_code(self, platform: str, user_id: str, now: datetime) -> PairingCode | None:
        """The user's code that is neither used nor expired at ``now``, if any."""
        ...

    async def count_pending(self, platform: str, now: datetime) -> int:
        """Codes of ``platform`` neither used nor expired at ``now``."""
        ...

    async def add_code(self, code: PairingCode) -> bool:
        """Store a new code (False if the code is taken); the user's earlier unused codes and
        every expired unused code go."""
        ...

    async def approve(self, code: str, now: datetime, by: str) -> Approval:
        """Admit the user of ``code`` if it is known, unused and not expired at ``now``."""
        ...

    async def revoke(self, platform: str, user_id: str) -> ApprovedUser | None:
        """Withdraw the user's approval; the approval that was removed, or None if there was none.

        Their used codes stay (they cannot be approved twice); their next DM gets a new code.
        """
        ...

    async def pairing(self, now: datetime) -> tuple[list[PairingCode], list[ApprovedUser]]:
        """Pending (unexpired, unused) codes and approved users, oldest first."""
        ...

    async def notice_once(self, subject: str, reason: str, now: datetime) -> bool:
        """Record that ``subject`` was told ``reason``; False when it was told before."""
        ...

    async def tokens_since(
        self, platform: str, since: datetime, *, user_id: str, workspace: str
    ) -> TokensUsed:
        """Budget tokens of the user's turns and of the workspace's turns since ``since``."""
        ...

    async def user_sessions(self, platform: str, workspace: str, user: str) -> list[str]:
        """Keys of open sessions in ``workspace`` where ``user`` (an id or display name) spoke."""
        ...


class SqliteAccessStore:
    """:class:`AccessStore` on the SQLite store's connection."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def is_approved(self, platform: str, user_id: str) -> bool:
        """See :meth:`AccessStore.is_approved`."""
        rows = await self._store.db.execute_fetchall(
            "SELECT 1 FROM approved_users WHERE platform = ? AND user_id = ?", (platform, user_id)
        )
        return bool(list(rows))

    async def pending_code(self, platform: str, user_id: str, now: datetime) -> PairingCode | None:
        """See :meth:`AccessStore.pending_code`."""
        async with self._store.db.execute(
            f"SELECT {_CODE_COLUMNS} FROM pairing_codes WHERE platform = ? AND user_id = ?"
            " AND used_at IS NULL AND expires_at > ? ORDER BY created_at DESC LIMIT 1",
            (platform, user_id, _iso(now)),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _code_from_row(tuple(row))

    async def count_pending(self, platform: str, now: datetime) -> int:
        """See :meth:`AccessStore.count_pending`."""
        async with self._store.db.execute(
            "SELECT COUNT(*) FROM pairing_codes WHERE platform = ? AND used_at IS NULL"
            " AND expires_at > ?",
            (platform, _iso(now)),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def add_code(self, code: PairingCode) -> bool:
        """See :meth:`AccessStore.add_code`."""
        async with self._store.transaction() as db:
            await db.execute(
                "DELETE FROM pairing_codes WHERE used_at IS NULL AND"
                " ((platform = ? AND user_id = ?) OR expires_at <= ?)",
                (code.platform, code.user_id, _iso(code.created_at)),
            )
            cursor = await db.execute(
                f"INSERT INTO pairing_codes ({_CODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    code.code,
                    code.platform,
                    code.user_id,
                    code.user_name,
                    code.chat_key,
                    _iso(code.created_at),
                    _iso(code.expires_at),
                    None,
                ),
            )
            return cursor.rowcount == 1

    async def approve(self, code: str, now: datetime, by: str) -> Approval:
        """See :meth:`AccessStore.approve`."""
        async with self._store.transaction() as db:
            async with db.execute(
                f"SELECT {_CODE_COLUMNS} FROM pairing_codes WHERE code = ?", (code,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return Approval("unknown")
            found = _code_from_row(tuple(row))
            if found.used_at is not None:
                return Approval("used", found)
            if found.expires_at <= now:
                return Approval("expired", found)
            await db.execute(
                "UPDATE pairing_codes SET used_at = ? WHERE code = ?", (_iso(now), code)
            )
            await db.execute(
                "INSERT INTO approved_users (platform, user_id, user_name, approved_at, approved_by)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (found.platform, found.user_id, found.user_name, _iso(now), by),
            )
        return Approval("approved", found)

    async def revoke(self, platform: str, user_id: str) -> ApprovedUser | None:
        """See :meth:`AccessStore.revoke`."""
        return await self._store.write(partial(_revoke, platform=platform, user_id=user_id))

    async def pairing(self, now: datetime) -> tuple[list[PairingCode], list[ApprovedUser]]:
        """See :meth:`AccessStore.pairing`."""
        async with self._store.db.execute(
            f"SELECT {_CODE_COLUMNS} FROM pairing_codes WHERE used_at IS NULL AND expires_at > ?"
            " ORDER BY created_at",
            (_iso(now),),
        ) as cursor:
            pending = [_code_from_row(tuple(r)) for r in await cursor.fetchall()]
        async with self._store.db.execute(
            f"SELECT {_APPROVED_COLUMNS} FROM approved_users ORDER BY approved_at"
        ) as cursor:
            approved = [_approved_from_row(tuple(r)) for r in await cursor.fetchall()]
        return pending, approved

    async def notice_once(self, subject: str, reason: str, now: datetime) -> bool:
        """See :meth:`AccessStore.notice_once`."""
        async with self._store.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO access_notices (subject, reason, noticed_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (subject, reason, _iso(now)),
            )
            return cursor.rowcount == 1

    async def tokens_since(
        self, platform: str, since: datetime, *, user_id: str, workspace: str
    ) -> TokensUsed:
        """See :meth:`AccessStore.tokens_since`.

        One statement, one round trip to the database thread (it runs before every turn); both
        sums read only the covering indexes of the access migration.
        """
        start = _iso(since)
        rows = await self._store.db.execute_fetchall(
            _TOKENS_SINCE, (platform, user_id, start, platform, workspace, start)
        )
        user, space = next(iter(rows))
        return TokensUsed(int(user), int(space))

    async def user_sessions(self, platform: str, workspace: str, user: str) -> list[str]:
        """See :meth:`AccessStore.user_sessions`."""
        async with self._store.db.execute(
            "SELECT DISTINCT s.key FROM turns t JOIN sessions s ON s.id = t.session_id"
            " WHERE t.platform = ? AND t.workspace = ? AND s.closed_at IS NULL"
            " AND (t.user_id = ? OR (t.user_name != '' AND lower(t.user_name) = lower(?)))"
            " ORDER BY s.key",
            (platform, workspace, user, user),
        ) as cursor:
            return [str(r[0]) for r in await cursor.fetchall()]


# Cache reads are left out: they cost a tenth of fresh input, and every warm turn re-reads the whole
# prefix, so counting them would make long conversations burn budgets fastest.
_BUDGET_TOKENS = "COALESCE(SUM(input_tokens - cache_read_tokens + output_tokens), 0)"
_TOKENS_SINCE = (
    f"SELECT (SELECT {_BUDGET_TOKENS} FROM turns"
    " WHERE platform = ? AND user_id = ? AND created_at >= ?),"
    f" (SELECT {_BUDGET_TOKENS} FROM turns WHERE platform = ? AND workspace = ? AND created_at >= ?)"
)
_CODE_COLUMNS = "code, platform, user_id, user_name, chat_key, created_at, expires_at, used_at"
_APPROVED_COLUMNS = "platform, user_id, user_name, approved_at, approved_by"

SqlValue = str | int | float | None


def _iso(moment: datetime) -> str:
    # One format for every stored time (UTC, ISO 8601), so text comparison orders them.
    return moment.astimezone(UTC).isoformat()


def _time(value: SqlValue) -> datetime:
    return datetime.fromisoformat(str(value))


def _revoke(conn: sqlite3.Connection, *, platform: str, user_id: str) -> ApprovedUser | None:
    # fetchall: a RETURNING statement must run to its end before the transaction commits.
    rows = conn.execute(
        f"DELETE FROM approved_users WHERE platform = ? AND user_id = ? RETURNING {_APPROVED_COLUMNS}",
        (platform, user_id),
    ).fetchall()
    return _approved_from_row(tuple(rows[0])) if rows else None


def _approved_from_row(row: tuple[SqlValue, ...]) -> ApprovedUser:
    return ApprovedUser(str(row[0]), str(row[1]), str(row[2]), _time(row[3]), str(row[4]))


def _code_from_row(row: tuple[SqlValue, ...]) -> PairingCode:
    return PairingCode(
        code=str(row[0]),
        platform=str(row[1]),
        user_id=str(row[2]),
        user_name=str(row[3]),
        chat_key=str(row[4]),
        created_at=_time(row[5]),
        expires_at=_time(row[6]),
        used_at=None if row[7] is None else _time(row[7]),
    )

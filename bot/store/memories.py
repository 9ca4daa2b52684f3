"""Memories in SQLite: the ``memories`` table with an FTS5 index ranked by BM25.

Implements :class:`agent.tools.memory.MemoryStore` on the store's connection (and its write lock).
Every query is confined to the (scope, owner) pairs the caller passes, which the tools derive from
the conversation, so nothing crosses from one person, chat or workspace to another. The long-term
memory issue (#8) adds embeddings and hybrid ranking on top of the same table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from agent.tools.memory import Memory, MemoryScope, NewMemory, Owner
from bot.store.sqlite import SqliteStore

MAX_QUERY_TERMS = 16
_WORD = re.compile(r"\w+", re.UNICODE)
_SCOPES: dict[str, MemoryScope] = {
    "user": "user",
    "chat": "chat",
    "workspace": "workspace",
    "global": "global",
}


def fts_query(text: str) -> str:
    """An FTS5 query matching any of the words of ``text`` (quoted: no operator injection)."""
    words = _WORD.findall(text.lower())[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(words))


def _owners_clause(owners: Sequence[Owner]) -> tuple[str, list[str]]:
    if not owners:
        return "0", []
    clause = " OR ".join("(m.scope = ? AND m.owner = ?)" for _ in owners)
    params = [value for owner in owners for value in owner]
    return f"({clause})", params


class SqliteMemories:
    """The memory store on a :class:`SqliteStore` connection."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def add(self, memory: NewMemory) -> int:
        """See :meth:`agent.tools.memory.MemoryStore.add`."""
        # The same fact for the same owner is one row; saying it again refreshes it.
        async with (
            self._store.transaction() as db,
            db.execute(
                "INSERT INTO memories (scope, owner, content, source_session, created_at,"
                " importance) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (scope, owner, content) DO UPDATE SET"
                " importance = MAX(importance, excluded.importance),"
                " last_used_at = excluded.created_at"
                " RETURNING id",
                (
                    memory.scope,
                    memory.owner,
                    memory.content,
                    memory.source_session,
                    memory.created_at.isoformat(),
                    memory.importance,
                ),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None  # RETURNING yields the inserted or updated row
        return int(row[0])

    async def search(
        self, owners: Sequence[Owner], query: str, limit: int, now: datetime
    ) -> list[Memory]:
        """See :meth:`agent.tools.memory.MemoryStore.search`."""
        where, params = _owners_clause(owners)
        match = fts_query(query)
        columns = "m.id, m.scope, m.content, m.created_at, m.importance"
        if match:
            sql = (
                f"SELECT {columns} FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid"
                f" WHERE memories_fts MATCH ? AND {where}"
                " ORDER BY bm25(memories_fts), m.importance DESC, m.id DESC LIMIT ?"
            )
            args: list[str | int] = [match, *params, limit]
        elif query.strip():
            return []  # only punctuation: nothing to look for
        else:
            sql = (
                f"SELECT {columns} FROM memories m WHERE {where}"
                " ORDER BY COALESCE(m.last_used_at, m.created_at) DESC, m.id DESC LIMIT ?"
            )
            args = [*params, limit]
        async with self._store.db.execute(sql, args) as cursor:
            found = [_memory(row) for row in await cursor.fetchall()]
        if found:
            await self._touch([m.id for m in found], now)
        return found

    async def delete(self, memory_id: int, owners: Sequence[Owner]) -> bool:
        """See :meth:`agent.tools.memory.MemoryStore.delete`."""
        where, params = _owners_clause(owners)
        async with self._store.transaction() as db:
            cursor = await db.execute(
                f"DELETE FROM memories AS m WHERE m.id = ? AND {where}", [memory_id, *params]
            )
            return cursor.rowcount == 1

    async def _touch(self, ids: list[int], now: datetime) -> None:
        marks = ", ".join("?" for _ in ids)
        async with self._store.transaction() as db:
            await db.execute(
                f"UPDATE memories SET last_used_at = ? WHERE id IN ({marks})",
                [now.isoformat(), *ids],
            )


def _memory(row: aiosqlite.Row | tuple[object, ...]) -> Memory:
    return Memory(
        id=int(str(row[0])),
        scope=_SCOPES[str(row[1])],
        content=str(row[2]),
        created_at=datetime.fromisoformat(str(row[3])),
        importance=float(str(row[4])),
    )

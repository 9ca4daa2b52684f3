"""Memories in SQLite: the ``memories`` table with its FTS5 index (BM25), the embedding cache and the
vector index.

:class:`SqliteMemories` implements :class:`agent.memory.MemoryRepository` and
:class:`agent.memory.EmbeddingCache` on the store's connection (and its write lock); on its own it
also implements the keyword-only :class:`agent.tools.memory.MemoryStore`. Every query is confined to
the (scope, owner) pairs the caller passes, which derive from the conversation, so nothing crosses
from one person, chat or workspace to another.

Vectors live in the ``embeddings`` table, keyed by (model, content hash): a memory's vector is the
one of its text, shared by every memory with that text and deleted with the last of them. Vector
search runs over NumPy matrices loaded per owner (:class:`agent.memory.NumpyVectorIndex`), or inside
SQLite with sqlite-vec where it is installed and this Python can load extensions (feature-detected
by :func:`sqlite_vec_support`; ``memory.vector_search`` chooses). Measured at 1,536 dimensions
(``bench/memory_search.py``), NumPy answers in 0.2 / 8 / 33 ms at 1,000 / 10,000 / 100,000 vectors
of a scope and sqlite-vec's exact ``vec_distance_cosine`` in 10 / 110 / 1,200 ms; sqlite-vec holds
nothing in memory.
"""

from __future__ import annotations

import importlib
import logging
import re
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite
import numpy as np
from numpy.typing import NDArray

from agent.memory.records import (
    SCOPES,
    Memory,
    NewMemory,
    Owner,
    Vector,
    content_hash,
    from_blob,
    to_blob,
)
from agent.memory.vectors import NumpyVectorIndex
from bot.store.sqlite import SqliteStore
from config import ConfigError

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 16
_CHUNK = 500  # parameters per IN (...) list
_LOAD_SLICE = 4096  # rows per read when loading a scope's vectors
_WORD = re.compile(r"\w+", re.UNICODE)
_COLUMNS = "m.id, m.scope, m.content, m.created_at, m.importance, m.last_used_at"


@dataclass(frozen=True, slots=True)
class VecSupport:
    """Whether sqlite-vec can serve vector search in this process, and why (``hearth check``)."""

    available: bool
    detail: str
    path: str = ""


def sqlite_vec_support() -> VecSupport:
    """Detect sqlite-vec: this Python's sqlite3 must load extensions and the package must load."""
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        return VecSupport(False, "this Python's sqlite3 cannot load extensions")
    try:
        # Optional (the "vector" extra), so imported by name: no stubs needed when it is absent.
        module = importlib.import_module("sqlite_vec")
        path = str(module.loadable_path())
    except ImportError:
        return VecSupport(False, "sqlite-vec is not installed (pip install 'hearth[vector]')")
    try:
        with closing(sqlite3.connect(":memory:")) as db:
            db.enable_load_extension(True)
            db.load_extension(path)
            version = str(db.execute("SELECT vec_version()").fetchone()[0])
    except sqlite3.Error as exc:
        return VecSupport(False, f"sqlite-vec does not load ({exc})")
    return VecSupport(True, f"sqlite-vec {version}", path)


def choose_vector_search(wanted: str) -> VecSupport:
    """What serves vector search for ``memory.vector_search`` (``available``: sqlite-vec).

    Raises:
        ConfigError: ``sqlite-vec`` is asked for but cannot be used here.
    """
    if wanted == "numpy":
        return VecSupport(False, "memory.vector_search: numpy")
    support = sqlite_vec_support()
    if wanted == "sqlite-vec" and not support.available:
        raise ConfigError("memory.vector_search", f"sqlite-vec cannot be used: {support.detail}")
    return support


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


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class SqliteMemories:
    """The memory repository on a :class:`SqliteStore` connection.

    Args:
        store: The open store.
        vectors: The NumPy index used when sqlite-vec is not (a default one when None).
        vector_search: ``memory.vector_search`` (:meth:`prepare` loads sqlite-vec when chosen).
    """

    def __init__(
        self,
        store: SqliteStore,
        *,
        vectors: NumpyVectorIndex | None = None,
        vector_search: str = "auto",
    ) -> None:
        self._store = store
        self._index = vectors or NumpyVectorIndex()
        self._index_model: str | None = None
        self._wanted = vector_search
        self._sqlite_vec = False

    @property
    def vector_search(self) -> str:
        """``sqlite-vec`` or ``numpy``: what serves vector search."""
        return "sqlite-vec" if self._sqlite_vec else "numpy"

    async def prepare(self) -> None:
        """Hash memories stored before hashes existed; load sqlite-vec when it is chosen.

        Raises:
            ConfigError: sqlite-vec is required but cannot be used here.
        """
        async with self._store.db.execute(
            "SELECT id, content FROM memories WHERE content_hash IS NULL"
        ) as cursor:
            rows = [(content_hash(str(r[1])), int(r[0])) for r in await cursor.fetchall()]
        if rows:
            async with self._store.transaction() as db:
                await db.executemany("UPDATE memories SET content_hash = ? WHERE id = ?", rows)
        support = choose_vector_search(self._wanted)
        if support.available:
            db = self._store.db
            await db.enable_load_extension(True)
            try:
                await db.load_extension(support.path)
            finally:
                await db.enable_load_extension(False)
            self._sqlite_vec = True
        log.info("memory vector search: %s (%s)", self.vector_search, support.detail)

    async def add(self, memory: NewMemory, vector: Vector | None = None) -> int:
        """See :meth:`agent.memory.MemoryRepository.add`."""
        # The same fact for the same owner is one row; saying it again refreshes it.
        async with (
            self._store.transaction() as db,
            db.execute(
                "INSERT INTO memories (scope, owner, content, content_hash, source_session,"
                " source_turn, author, created_at, importance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (scope, owner, content) DO UPDATE SET"
                " importance = MAX(importance, excluded.importance),"
                " last_used_at = excluded.created_at"
                " RETURNING id",
                (
                    memory.scope,
                    memory.owner,
                    memory.content,
                    content_hash(memory.content),
                    memory.source_session,
                    memory.source_turn,
                    memory.author,
                    memory.created_at.isoformat(),
                    memory.importance,
                ),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        assert row is not None  # RETURNING yields the inserted or updated row
        memory_id = int(row[0])
        if vector is not None:
            self._index.put((memory.scope, memory.owner), memory_id, vector)
        return memory_id

    async def search(
        self, owners: Sequence[Owner], query: str, limit: int, now: datetime
    ) -> list[Memory]:
        """Keyword-only :meth:`agent.tools.memory.MemoryStore.search` (BM25, then importance)."""
        if not query.strip():
            found = await self.recent(owners, limit)
        else:
            hits = await self.keyword_hits(owners, query, limit)
            by_id = {m.id: m for m, _ in await self.fetch([i for i, _ in hits], None)}
            found = [by_id[i] for i, _ in hits if i in by_id]
        await self.touch([m.id for m in found], now)
        return found

    async def keyword_hits(
        self, owners: Sequence[Owner], query: str, limit: int
    ) -> list[tuple[int, float]]:
        """See :meth:`agent.memory.MemoryRepository.keyword_hits`."""
        match = fts_query(query)
        if not match:
            return []  # only punctuation: nothing to look for
        where, params = _owners_clause(owners)
        sql = (
            "SELECT m.id, bm25(memories_fts) FROM memories_fts"
            " JOIN memories m ON m.id = memories_fts.rowid"
            f" WHERE memories_fts MATCH ? AND {where}"
            " ORDER BY bm25(memories_fts), m.importance DESC, m.id DESC LIMIT ?"
        )
        # One round trip to the database thread (execute + fetch + close would be three): this
        # runs before every model call.
        rows = await self._store.db.execute_fetchall(sql, [match, *params, limit])
        return [
            (int(r[0]), -float(r[1])) for r in rows
        ]  # FTS5's bm25() is negative, lower is better

    async def vector_hits(
        self, owners: Sequence[Owner], query: Vector, model: str, limit: int
    ) -> list[tuple[int, float]]:
        """See :meth:`agent.memory.MemoryRepository.vector_hits`."""
        where, params = _owners_clause(owners)
        if self._sqlite_vec:
            sql = (
                "SELECT m.id, 1.0 - vec_distance_cosine(e.vector, ?) AS similarity"
                " FROM memories m JOIN embeddings e"
                " ON e.model = ? AND e.content_hash = m.content_hash"
                f" WHERE {where} ORDER BY similarity DESC, m.id DESC LIMIT ?"
            )
            args = [to_blob(query), model, *params, limit]
            rows = await self._store.db.execute_fetchall(sql, args)
            return [(int(r[0]), float(r[1])) for r in rows]
        if model != self._index_model:
            self._index.clear()  # another embedding model: vectors are not comparable
            self._index_model = model
        for owner in owners:
            if not self._index.loaded(owner):
                await self._load(owner, model, int(query.shape[0]))
        return self._index.search(owners, query, limit)

    async def fetch(
        self, ids: Sequence[int], model: str | None
    ) -> list[tuple[Memory, Vector | None]]:
        """See :meth:`agent.memory.MemoryRepository.fetch`."""
        found: list[tuple[Memory, Vector | None]] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            sql = (
                f"SELECT {_COLUMNS}, e.vector FROM memories m LEFT JOIN embeddings e"
                " ON e.model = ? AND e.content_hash = m.content_hash"
                f" WHERE m.id IN ({_marks(chunk)})"
            )
            for row in await self._store.db.execute_fetchall(sql, [model or "", *chunk]):
                vector = None if row[6] is None else from_blob(bytes(row[6]))
                found.append((_memory(row), vector))
        return found

    async def recent(self, owners: Sequence[Owner], limit: int) -> list[Memory]:
        """See :meth:`agent.memory.MemoryRepository.recent`."""
        where, params = _owners_clause(owners)
        sql = (
            f"SELECT {_COLUMNS} FROM memories m WHERE {where}"
            " ORDER BY COALESCE(m.last_used_at, m.created_at) DESC, m.id DESC LIMIT ?"
        )
        async with self._store.db.execute(sql, [*params, limit]) as cursor:
            return [_memory(row) for row in await cursor.fetchall()]

    async def count(self, owners: Sequence[Owner]) -> int:
        """How many memories ``owners`` have."""
        where, params = _owners_clause(owners)
        async with self._store.db.execute(
            f"SELECT COUNT(*) FROM memories m WHERE {where}", params
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def touch(self, ids: Sequence[int], now: datetime) -> None:
        """See :meth:`agent.memory.MemoryRepository.touch`."""
        if not ids:
            return
        async with self._store.transaction() as db:
            await db.execute(
                f"UPDATE memories SET last_used_at = ? WHERE id IN ({_marks(ids)})",
                [now.isoformat(), *ids],
            )

    async def delete(self, memory_id: int, owners: Sequence[Owner]) -> bool:
        """See :meth:`agent.memory.MemoryRepository.delete`."""
        return bool(await self._delete_where("m.id = ?", [memory_id], owners))

    async def delete_all(self, owners: Sequence[Owner]) -> int:
        """See :meth:`agent.memory.MemoryRepository.delete_all`."""
        return len(await self._delete_where("1", [], owners))

    async def _delete_where(
        self, condition: str, args: list[int], owners: Sequence[Owner]
    ) -> list[int]:
        where, params = _owners_clause(owners)
        async with self._store.transaction() as db:
            async with db.execute(
                f"DELETE FROM memories AS m WHERE {condition} AND {where}"
                " RETURNING id, content_hash",
                [*args, *params],
            ) as cursor:
                deleted = [(int(r[0]), str(r[1])) for r in await cursor.fetchall()]
            await drop_orphan_embeddings(db, [h for _, h in deleted])
        ids = [i for i, _ in deleted]
        self._index.remove(ids)
        return ids

    async def without_vectors(self, model: str, limit: int) -> list[tuple[int, str]]:
        """See :meth:`agent.memory.MemoryRepository.without_vectors`."""
        async with self._store.db.execute(
            "SELECT m.id, m.content FROM memories m WHERE NOT EXISTS (SELECT 1 FROM embeddings e"
            " WHERE e.model = ? AND e.content_hash = m.content_hash) ORDER BY m.id LIMIT ?",
            (model, limit),
        ) as cursor:
            return [(int(r[0]), str(r[1])) for r in await cursor.fetchall()]

    async def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vector]:
        """See :meth:`agent.memory.EmbeddingCache.cached_vectors`."""
        found: dict[str, Vector] = {}
        for start in range(0, len(hashes), _CHUNK):
            chunk = list(hashes[start : start + _CHUNK])
            async with self._store.db.execute(
                "SELECT content_hash, vector FROM embeddings"
                f" WHERE model = ? AND content_hash IN ({_marks(chunk)})",
                [model, *chunk],
            ) as cursor:
                found |= {str(r[0]): from_blob(bytes(r[1])) for r in await cursor.fetchall()}
        return found

    async def store_vectors(self, model: str, vectors: Mapping[str, Vector]) -> None:
        """See :meth:`agent.memory.EmbeddingCache.store_vectors`; loaded owners get them too."""
        if not vectors:
            return
        now = datetime.now(UTC).isoformat()
        rows = [(model, h, int(v.shape[0]), to_blob(v), now) for h, v in vectors.items()]
        async with self._store.transaction() as db:
            await db.executemany(
                "INSERT INTO embeddings (model, content_hash, dims, vector, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, content_hash) DO NOTHING",
                rows,
            )
        if model != self._index_model:
            return
        hashes = list(vectors)
        for start in range(0, len(hashes), _CHUNK):
            chunk = hashes[start : start + _CHUNK]
            async with self._store.db.execute(
                "SELECT id, scope, owner, content_hash FROM memories"
                f" WHERE content_hash IN ({_marks(chunk)})",
                chunk,
            ) as cursor:
                for row in await cursor.fetchall():
                    owner: Owner = (SCOPES[str(row[1])], str(row[2]))
                    self._index.put(owner, int(row[0]), vectors[str(row[3])])

    async def _load(self, owner: Owner, model: str, dims: int) -> None:
        ids: list[int] = []
        parts: list[NDArray[np.float32]] = []
        async with self._store.db.execute(
            "SELECT m.id, e.vector FROM memories m JOIN embeddings e"
            " ON e.model = ? AND e.content_hash = m.content_hash"
            " WHERE m.scope = ? AND m.owner = ? AND e.dims = ?",
            (model, owner[0], owner[1], dims),
        ) as cursor:
            # In slices: a scope of 100,000 vectors is 600 MB at 1,536 dimensions; one bytes object
            # per row for all of them at once would double that.
            while rows := list(await cursor.fetchmany(_LOAD_SLICE)):
                ids += [int(r[0]) for r in rows]
                blob = b"".join(bytes(r[1]) for r in rows)
                parts.append(np.frombuffer(blob, dtype="<f4").reshape(len(rows), dims))
        matrix = np.concatenate(parts) if parts else np.zeros((0, dims), dtype=np.float32)
        self._index.load(owner, ids, matrix.astype(np.float32, copy=False))


async def drop_orphan_embeddings(db: aiosqlite.Connection, hashes: Sequence[str]) -> None:
    """Delete the cached vectors of these texts unless a memory still has the text (inside the
    caller's transaction): the cache keeps nothing of deleted memories."""
    for start in range(0, len(hashes), _CHUNK):
        chunk = list(hashes[start : start + _CHUNK])
        await db.execute(
            f"DELETE FROM embeddings WHERE content_hash IN ({_marks(chunk)}) AND NOT EXISTS"
            " (SELECT 1 FROM memories m WHERE m.content_hash = embeddings.content_hash)",
            chunk,
        )


def _memory(row: aiosqlite.Row | tuple[object, ...]) -> Memory:
    used = row[5]
    return Memory(
        id=int(str(row[0])),
        scope=SCOPES[str(row[1])],
        content=str(row[2]),
        created_at=datetime.fromisoformat(str(row[3])),
        importance=float(str(row[4])),
        last_used_at=None if used is None else datetime.fromisoformat(str(used)),
    )

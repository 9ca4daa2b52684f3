"""Hybrid memory search: keyword and vector candidates from the store, ranked together.

:class:`HybridMemories` is what the tools and the runtime use (it implements
:class:`agent.tools.memory.MemoryStore`); the persistence and both indexes sit behind
:class:`MemoryRepository` (SQLite with FTS5 and NumPy or sqlite-vec today; PostgreSQL with pgvector
could implement it later). Without an embedder everything works on keywords alone; when the
embeddings endpoint fails or is slow, a search falls back to keywords and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import numpy as np

from agent.memory.embedder import EmbeddingError, Embeddings
from agent.memory.ranking import Candidate, Scored, near_duplicates, rank, within_budget
from agent.memory.records import Memory, NewMemory, Owner, Vector
from config.memory import MemorySettings

log = logging.getLogger(__name__)

MIN_CANDIDATES = 20
MAX_QUERY_CHARS = 2000  # what a query is embedded from: its start says what it is about
BACKFILL_BATCH = 256


class MemoryRepository(Protocol):
    """Persistence of memories with a keyword index and a vector index."""

    async def add(self, memory: NewMemory, vector: Vector | None = None) -> int:
        """Store ``memory`` (the same content for the same owner is one row); its id.

        ``vector`` (of the current embedding model, already in the embedding cache) goes into
        the vector index.
        """
        ...

    async def keyword_hits(
        self, owners: Sequence[Owner], query: str, limit: int
    ) -> list[tuple[int, float]]:
        """Memories of ``owners`` matching words of ``query``: (id, BM25, higher is better)."""
        ...

    async def vector_hits(
        self, owners: Sequence[Owner], query: Vector, model: str, limit: int
    ) -> list[tuple[int, float]]:
        """The memories of ``owners`` nearest to ``query`` (vectors of ``model``): (id, cosine)."""
        ...

    async def fetch(
        self, ids: Sequence[int], model: str | None
    ) -> list[tuple[Memory, Vector | None]]:
        """The memories with these ids (those that still exist), with their ``model`` vectors."""
        ...

    async def recent(self, owners: Sequence[Owner], limit: int) -> list[Memory]:
        """``owners``' memories, most recently used or created first."""
        ...

    async def touch(self, ids: Sequence[int], now: datetime) -> None:
        """Mark memories as used at ``now``."""
        ...

    async def delete(self, memory_id: int, owners: Sequence[Owner]) -> bool:
        """Delete a memory if one of ``owners`` owns it (and its vector unless shared)."""
        ...

    async def count(self, owners: Sequence[Owner]) -> int:
        """How many memories ``owners`` have."""
        ...

    async def delete_all(self, owners: Sequence[Owner]) -> int:
        """Delete every memory of ``owners``; how many."""
        ...

    async def without_vectors(self, model: str, limit: int) -> list[tuple[int, str]]:
        """Memories that have no ``model`` vector yet: (id, content)."""
        ...


class HybridMemories:
    """Memories found by keywords and meaning, ranked per ``memory:`` settings.

    Args:
        repository: Where memories and both indexes live.
        settings: Weights, recency, thresholds and the recall budget.
        embeddings: The cached embedder; None for keyword-only memory.
    """

    def __init__(
        self,
        repository: MemoryRepository,
        settings: MemorySettings,
        embeddings: Embeddings | None = None,
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._embeddings = embeddings
        self._touches: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> MemorySettings:
        """The ``memory:`` settings in force."""
        return self._settings

    async def add(self, memory: NewMemory) -> int:
        """See :meth:`agent.tools.memory.MemoryStore.add`; also embeds the text (once ever).

        An embedding failure is logged; the memory is kept and found by keywords until the
        background backfill gives it a vector.
        """
        vector = None
        if self._embeddings is not None:
            try:
                [vector] = await self._embeddings.for_texts([memory.content])
            except EmbeddingError as exc:
                session = memory.source_session
                log.warning("memory stored without a vector for now (session %s): %s", session, exc)
        return await self._repository.add(memory, vector)

    async def search(
        self, owners: Sequence[Owner], query: str, limit: int, now: datetime
    ) -> list[Memory]:
        """See :meth:`agent.tools.memory.MemoryStore.search` (an empty query lists recent ones)."""
        if not query.strip():
            found = await self._repository.recent(owners, limit)
        else:
            found = [s.memory for s in await self.find(owners, query, limit, now)]
        await self._repository.touch([m.id for m in found], now)
        return found

    async def recall(self, owners: Sequence[Owner], message: str, now: datetime) -> list[Memory]:
        """The memories to put into the prompt for ``message``: the best ``top_k`` within the token
        budget. They are marked as used in the background: that write is bookkeeping, and this
        runs before every model call."""
        scored = await self.find(owners, message, self._settings.top_k, now)
        chosen = within_budget([s.memory for s in scored], self._settings.recall_tokens)
        if chosen:
            task = asyncio.create_task(
                self._touch([m.id for m in chosen], now), name="memory touch"
            )
            self._touches.add(task)
            task.add_done_callback(self._touches.discard)
        return chosen

    async def aclose(self) -> None:
        """Wait for the last "used" marks to be written (before the store closes)."""
        while self._touches:
            await asyncio.gather(*self._touches)

    async def _touch(self, ids: list[int], now: datetime) -> None:
        try:
            await self._repository.touch(ids, now)
        except Exception as exc:  # a missed "last used" mark only ages a memory a little early
            log.warning("could not mark %d recalled memories as used: %s", len(ids), exc)

    async def delete(self, memory_id: int, owners: Sequence[Owner]) -> bool:
        """See :meth:`agent.tools.memory.MemoryStore.delete`."""
        return await self._repository.delete(memory_id, owners)

    async def listing(self, owners: Sequence[Owner], limit: int) -> tuple[list[Memory], int]:
        """``owners``' memories, most recently used first, at most ``limit``, and how many there
        are in all (nothing is marked as used)."""
        return await self._repository.recent(owners, limit), await self._repository.count(owners)

    async def delete_all(self, owners: Sequence[Owner]) -> int:
        """Delete every memory of ``owners`` (with their vectors); how many."""
        return await self._repository.delete_all(owners)

    async def find(
        self, owners: Sequence[Owner], query: str, limit: int, now: datetime
    ) -> list[Scored]:
        """Rank ``owners``' memories for ``query`` (nothing is marked as used)."""
        if not query.strip():
            return []
        pool = max(limit * 4, MIN_CANDIDATES)
        candidates, query_vector = await self._candidates(owners, query, pool)
        vectors = query_vector is not None
        return rank(candidates, self._settings, now, vectors=vectors, limit=limit)

    async def duplicate_of(self, owners: Sequence[Owner], text: str) -> Memory | None:
        """A memory of ``owners`` that says what ``text`` says, if there is one."""
        candidates, vector = await self._candidates(owners, text, MIN_CANDIDATES)
        new = Candidate(Memory(0, "user", text, datetime.min, 0.5), vector=vector)
        threshold = self._settings.duplicate_similarity
        return next((c.memory for c in candidates if near_duplicates(new, c, threshold)), None)

    async def backfill(self, limit: int = BACKFILL_BATCH) -> int:
        """Embed up to ``limit`` memories stored without a vector (an outage, a new model); how
        many got one."""
        if self._embeddings is None:
            return 0
        missing = await self._repository.without_vectors(self._embeddings.model, limit)
        if missing:
            await self._embeddings.for_texts([content for _, content in missing])
        return len(missing)

    async def _candidates(
        self, owners: Sequence[Owner], query: str, pool: int
    ) -> tuple[list[Candidate], Vector | None]:
        keyword = dict(await self._repository.keyword_hits(owners, query, pool))
        query_vector = await self._query_vector(query)
        model = self._embeddings.model if self._embeddings is not None else None
        nearest: dict[int, float] = {}
        if query_vector is not None and model is not None:
            nearest = dict(await self._repository.vector_hits(owners, query_vector, model, pool))
        ids = list(dict.fromkeys([*keyword, *nearest]))
        candidates = []
        for memory, vector in await self._repository.fetch(ids, model):
            cosine = nearest.get(memory.id)
            if cosine is None and vector is not None and query_vector is not None:
                cosine = float(np.dot(vector, query_vector))
            candidates.append(Candidate(memory, keyword.get(memory.id), cosine, vector))
        return candidates, query_vector

    async def _query_vector(self, query: str) -> Vector | None:
        if self._embeddings is None:
            return None
        try:
            async with asyncio.timeout(self._settings.recall_timeout.total_seconds()):
                return await self._embeddings.for_query(query[:MAX_QUERY_CHARS])
        except (EmbeddingError, TimeoutError) as exc:
            log.warning("memory search falls back to keywords: %s", exc or "embedding timed out")
            return None

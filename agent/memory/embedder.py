"""Embeddings: the :class:`Embedder` protocol and the cache in front of it.

An embedder turns texts into vectors with one request per call. :class:`Embeddings` puts a cache in
front of it, keyed by (model, content hash) and kept in the store, so a memory's text is embedded
once however often it is stored, searched for or recalled; it also splits long lists into batches.
Queries (the person's messages) are cached in memory only: they are not facts anyone chose to keep.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from agent.errors import AgentError
from agent.memory.records import Vector, content_hash, unit

QUERY_CACHE_SIZE = 1024


class EmbeddingError(AgentError):
    """Texts could not be embedded (endpoint down, credentials refused, a malformed answer).

    Attributes:
        kind: Short machine-readable reason, as for :class:`agent.errors.ProviderError`.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Embedder(Protocol):
    """A text embedding model.

    Attributes:
        model: Identity of the model and its settings (``provider:model``, plus ``@dims`` when the
            size was chosen); vectors of different identities are never compared or mixed.
    """

    model: str

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order, with one request.

        Raises:
            EmbeddingError: For every failure.
        """
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...


class EmbeddingCache(Protocol):
    """Where vectors are kept by (model, content hash): the store."""

    async def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vector]:
        """The vectors stored for those of ``hashes`` that have one."""
        ...

    async def store_vectors(self, model: str, vectors: Mapping[str, Vector]) -> None:
        """Keep ``vectors`` (by content hash)."""
        ...


class Embeddings:
    """An :class:`Embedder` behind a persistent cache and batching.

    Args:
        embedder: The model.
        cache: The persistent cache (memory texts are read from and written to it; queries only
            read it).
        batch_size: Texts per request at most.
        query_cache_size: Query vectors kept in this process (least recently used go first).
    """

    def __init__(
        self,
        embedder: Embedder,
        cache: EmbeddingCache,
        *,
        batch_size: int,
        query_cache_size: int = QUERY_CACHE_SIZE,
    ) -> None:
        self._embedder = embedder
        self._cache = cache
        self._batch_size = batch_size
        self._queries: OrderedDict[str, Vector] = OrderedDict()
        self._query_cache_size = query_cache_size

    @property
    def model(self) -> str:
        """The embedder's identity (see :attr:`Embedder.model`)."""
        return self._embedder.model

    async def for_texts(self, texts: Sequence[str]) -> list[Vector]:
        """Unit vectors of ``texts``; only texts never embedded before reach the model.

        Raises:
            EmbeddingError: When the model failed for a text that was not cached.
        """
        hashes = [content_hash(text) for text in texts]
        known = await self._cache.cached_vectors(self.model, list(dict.fromkeys(hashes)))
        missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
        # A text searched for a moment ago (a fact checked for duplicates, then stored) is reused.
        new = {h: self._queries[h] for h in missing if h in self._queries}
        unseen = {h: t for h, t in missing.items() if h not in new}
        if unseen:
            new |= dict(zip(unseen, await self._embed(list(unseen.values())), strict=True))
        if new:
            await self._cache.store_vectors(self.model, new)
            known |= new
        return [known[h] for h in hashes]

    async def for_query(self, text: str) -> Vector:
        """The unit vector of a search query (kept in this process, not in the store).

        Raises:
            EmbeddingError: When the model failed.
        """
        key = content_hash(text)
        vector = self._queries.get(key)
        if vector is None:
            stored = await self._cache.cached_vectors(self.model, [key])
            vector = stored[key] if key in stored else (await self._embed([text]))[0]
            self._queries[key] = vector
            while len(self._queries) > self._query_cache_size:
                self._queries.popitem(last=False)
        self._queries.move_to_end(key)
        return vector

    async def _embed(self, texts: list[str]) -> list[Vector]:
        vectors: list[Vector] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            answer = await self._embedder.embed(batch)
            if len(answer) != len(batch):
                raise EmbeddingError(
                    f"{self.model}: {len(answer)} vectors for {len(batch)} texts", kind="malformed"
                )
            vectors += [unit(v) for v in answer]
        sizes = {int(np.size(v)) for v in vectors}
        if 0 in sizes or len(sizes) > 1:
            raise EmbeddingError(
                f"{self.model}: vectors of sizes {sorted(sizes)}", kind="malformed"
            )
        return vectors

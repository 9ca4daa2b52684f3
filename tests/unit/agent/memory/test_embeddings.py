"""The embedding cache in front of an embedder: one request per new text, batches, query LRU."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from agent.memory import EmbeddingError, Embeddings, Vector, content_hash
from tests.unit.agent.memory.corpus import QUERY, VECTORS, A, B, C, TableEmbedder


class DictCache:
    """An in-memory :class:`agent.memory.EmbeddingCache` (the store's role)."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], Vector] = {}

    async def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Vector]:
        return {h: self.vectors[model, h] for h in hashes if (model, h) in self.vectors}

    async def store_vectors(self, model: str, vectors: Mapping[str, Vector]) -> None:
        self.vectors |= {(model, h): v for h, v in vectors.items()}


async def test_a_text_is_embedded_once_however_often_it_is_asked_for() -> None:
    embedder, cache = TableEmbedder(), DictCache()
    embeddings = Embeddings(embedder, cache, batch_size=64)
    first = await embeddings.for_texts([A, B, A])
    again = await embeddings.for_texts([B, A])
    assert embedder.requests == [[A, B]]  # duplicates within a call are sent once
    assert np.array_equal(first[0], first[2]) and np.array_equal(again[1], first[0])
    assert float(np.linalg.norm(first[1])) == pytest.approx(1.0)  # stored at unit length
    assert set(cache.vectors) == {("test:table", content_hash(A)), ("test:table", content_hash(B))}
    # A query equal to a stored text reads the store; a new query is embedded once, not stored.
    await embeddings.for_query(A)
    await embeddings.for_query(QUERY)
    await embeddings.for_query(QUERY)
    assert embedder.requests == [[A, B], [QUERY]]
    assert ("test:table", content_hash(QUERY)) not in cache.vectors


async def test_long_lists_go_out_in_batches() -> None:
    table = {f"fact {i}": (1.0, float(i)) for i in range(5)}
    embedder = TableEmbedder(table)
    embeddings = Embeddings(embedder, DictCache(), batch_size=2)
    vectors = await embeddings.for_texts(list(table))
    assert [len(r) for r in embedder.requests] == [2, 2, 1]
    assert len(vectors) == 5


async def test_query_vectors_are_kept_least_recently_used_first() -> None:
    embedder = TableEmbedder()
    embeddings = Embeddings(embedder, DictCache(), batch_size=8, query_cache_size=2)
    for text in (A, B, A, C, A, B):
        await embeddings.for_query(text)
    # A, B; A again (cached); C pushes out B; A cached; B again.
    assert embedder.texts == [A, B, C, B]


class BrokenEmbedder(TableEmbedder):
    def __init__(self, answer: list[Vector]) -> None:
        super().__init__(VECTORS)
        self.answer = answer

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        return self.answer


@pytest.mark.parametrize(
    "answer",
    [
        [],  # fewer vectors than texts
        [np.ones(3, dtype=np.float32), np.ones(4, dtype=np.float32)],  # mixed sizes
        [np.ones(0, dtype=np.float32), np.ones(0, dtype=np.float32)],  # empty vectors
    ],
)
async def test_malformed_answers_are_errors_and_nothing_is_cached(answer: list[Vector]) -> None:
    cache = DictCache()
    embeddings = Embeddings(BrokenEmbedder(answer), cache, batch_size=8)
    with pytest.raises(EmbeddingError) as caught:
        await embeddings.for_texts([A, B])
    assert caught.value.kind == "malformed"
    assert cache.vectors == {}


async def test_a_text_searched_for_then_stored_is_embedded_once() -> None:
    embedder, cache = TableEmbedder(), DictCache()
    embeddings = Embeddings(embedder, cache, batch_size=8)
    await embeddings.for_query(C)  # e.g. a new fact checked for duplicates
    await embeddings.for_texts([C, A])  # then stored
    assert embedder.requests == [[C], [A]]
    assert ("test:table", content_hash(C)) in cache.vectors

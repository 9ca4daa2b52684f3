"""Embeddings through the real openai SDK against the fake ``/v1/embeddings``: each text embedded
once, batches, sizes, failures translated and survived by falling back to keywords."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.memory import EmbeddingError, Embeddings, HybridMemories, NewMemory, content_hash
from agent.memory.openai_embedder import OpenAIEmbedder
from bot.store.memories import SqliteMemories
from bot.store.sqlite import SqliteStore
from config import ProviderSettings
from config.memory import EmbedderSettings, MemorySettings
from tests.fakes.base import Fault
from tests.fakes.openai import EMBEDDING_DIMS, FakeOpenAI, fake_embedding

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ALICE, BOB = "telegram:bot1:100", "telegram:bot1:200"
FACT = "Alice's favourite tea is sencha"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "hearth.db") as opened:
        yield opened


def embedder_for(url: str, **settings: Any) -> OpenAIEmbedder:
    connection = ProviderSettings.model_validate(
        {"kind": "openai", "api_key": "sk-test", "base_url": url, "max_retries": 0}
    )
    options = EmbedderSettings.model_validate({"provider": "openai", "model": "emb", **settings})
    return OpenAIEmbedder("openai", connection, options)


async def memories_on(
    store: SqliteStore, embedder: OpenAIEmbedder, **settings: Any
) -> tuple[HybridMemories, SqliteMemories]:
    repository = SqliteMemories(store)
    await repository.prepare()
    embeddings = Embeddings(embedder, repository, batch_size=settings.pop("batch_size", 64))
    return HybridMemories(
        repository, MemorySettings.model_validate(settings), embeddings
    ), repository


async def test_the_same_text_embedded_twice_makes_one_request(
    fake: FakeOpenAI, store: SqliteStore
) -> None:
    embedder = embedder_for(f"{fake.url}/v1")
    try:
        memories, repository = await memories_on(store, embedder)
        await memories.add(NewMemory("user", ALICE, FACT, "s1", NOW))
        await memories.add(NewMemory("user", BOB, FACT, "s2", NOW))  # same text, another owner
        found = await memories.search([("user", ALICE)], FACT, 5, NOW)  # the query is that text
    finally:
        await embedder.aclose()

    assert [m.content for m in found] == [FACT]
    [request] = fake.embedding_requests()
    assert request.json == {"model": "emb", "input": [FACT], "encoding_format": "float"}
    assert request.headers["authorization"] == "Bearer sk-test"
    [vector] = (await repository.cached_vectors("openai:emb", [content_hash(FACT)])).values()
    expected = np.asarray(fake_embedding(FACT), dtype=np.float32)
    assert np.allclose(vector, expected / np.linalg.norm(expected))
    assert vector.shape == (EMBEDDING_DIMS,)


async def test_backfill_goes_out_in_batches_with_the_chosen_size(
    fake: FakeOpenAI, store: SqliteStore
) -> None:
    keyword_only = HybridMemories(SqliteMemories(store), MemorySettings())
    for number in range(5):
        await keyword_only.add(NewMemory("user", ALICE, f"fact number {number}", "s1", NOW))
    embedder = embedder_for(f"{fake.url}/v1", dimensions=16)
    try:
        memories, repository = await memories_on(store, embedder, batch_size=2)
        assert await memories.backfill() == 5
        assert await memories.backfill() == 0
    finally:
        await embedder.aclose()

    requests = fake.embedding_requests()
    assert [len(r.json["input"]) for r in requests] == [2, 2, 1]
    assert {r.json["dimensions"] for r in requests} == {16}
    assert embedder.model == "openai:emb@16"
    assert await repository.without_vectors("openai:emb@16", 10) == []


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault(500, {"error": {"message": "boom", "type": "server_error"}}), "server"),
        (Fault(401, {"error": {"message": "bad key", "type": "invalid_api_key"}}), "auth"),
        (Fault(429, {"error": {"message": "slow down", "type": "rate_limit"}}), "rate_limit"),
    ],
)
async def test_endpoint_errors_become_embedding_errors(
    fake: FakeOpenAI, fault: Fault, kind: str
) -> None:
    fake.fail_next(fault)
    embedder = embedder_for(f"{fake.url}/v1")
    try:
        with pytest.raises(EmbeddingError) as caught:
            await embedder.embed([FACT])
    finally:
        await embedder.aclose()
    assert caught.value.kind == kind


async def test_an_unreachable_endpoint_is_a_connection_error(fake: FakeOpenAI) -> None:
    url = f"{fake.url}/v1"
    await fake.close()  # nothing listens there any more
    embedder = embedder_for(url)
    try:
        with pytest.raises(EmbeddingError) as caught:
            await embedder.embed([FACT])
    finally:
        await embedder.aclose()
    assert caught.value.kind == "connection"


async def test_a_slow_or_failing_endpoint_leaves_recall_on_keywords(
    fake: FakeOpenAI, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = embedder_for(f"{fake.url}/v1")
    try:
        memories, _ = await memories_on(store, embedder, recall_timeout="50ms")
        await memories.add(NewMemory("user", ALICE, FACT, "s1", NOW))
        fake.fail_next(Fault(200, {"object": "list", "data": []}, delay=5))  # hangs past 50ms
        with caplog.at_level(logging.WARNING):
            slow = await memories.recall([("user", ALICE)], "which tea is my favourite?", NOW)
        fake.fail_next(Fault(503))
        with caplog.at_level(logging.WARNING):
            down = await memories.recall([("user", ALICE)], "favourite tea again?", NOW)
    finally:
        await embedder.aclose()

    assert [m.content for m in slow] == [FACT]
    assert [m.content for m in down] == [FACT]
    assert caplog.text.count("falls back to keywords") == 2

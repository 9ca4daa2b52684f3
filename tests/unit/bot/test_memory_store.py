"""Hybrid memory search on the real SQLite store: the fixed corpus ranked keyword-only,
vector-only and hybrid; owners never mix; deletion takes vectors along; forget-user."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.memory import Embeddings, HybridMemories, NewMemory, Owner, content_hash
from agent.messages import ChatMessage, TextBlock
from bot.memory import forget_user
from bot.store.base import SessionRecord, TurnRecord
from bot.store.memories import SqliteMemories, sqlite_vec_support
from bot.store.sqlite import SqliteStore
from config.memory import MemorySettings
from tests.unit.agent.memory.corpus import CORPUS, QUERY, VECTORS, A, B, C, D, E, TableEmbedder

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ALICE = "slack:T1:U1"
BOB = "slack:T1:U2"
ALICE_ELSEWHERE = "slack:T2:U1"
ALICE_ONLY: list[Owner] = [("user", ALICE)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "hearth.db") as opened:
        yield opened


async def opened(store: SqliteStore, **options: Any) -> SqliteMemories:
    repository = SqliteMemories(store, **options)
    await repository.prepare()
    return repository


def hybrid(
    repository: SqliteMemories, embedder: TableEmbedder | None, **settings: Any
) -> HybridMemories:
    embeddings = None if embedder is None else Embeddings(embedder, repository, batch_size=16)
    return HybridMemories(repository, MemorySettings.model_validate(settings), embeddings)


def fact(text: str, owner: str = ALICE, scope: str = "user") -> NewMemory:
    return NewMemory(scope, owner, text, "s1", NOW, author=owner)  # type: ignore[arg-type]


async def add_corpus(memories: HybridMemories, owner: str = ALICE) -> dict[str, int]:
    return {text: await memories.add(fact(text, owner)) for text in CORPUS}


async def top3(memories: HybridMemories, owners: list[Owner] = ALICE_ONLY) -> list[str]:
    return [s.memory.content for s in await memories.find(owners, QUERY, 3, NOW)]


@pytest.mark.parametrize("vector_search", ["numpy", "sqlite-vec"])
async def test_the_corpus_ranks_keyword_only_vector_only_and_hybrid(
    store: SqliteStore, vector_search: str
) -> None:
    if vector_search == "sqlite-vec" and not sqlite_vec_support().available:
        pytest.skip(f"sqlite-vec unavailable here: {sqlite_vec_support().detail}")
    repository = await opened(store, vector_search=vector_search)
    assert repository.vector_search == vector_search
    embedder = TableEmbedder()
    await add_corpus(hybrid(repository, embedder))
    assert embedder.requests == [[text] for text in CORPUS]  # one request per new text

    assert await top3(hybrid(repository, None)) == [A, C, D]  # keyword-only: no embedder
    assert await top3(hybrid(repository, embedder, weights={"vector": 1, "keyword": 0})) == [
        B,
        E,
        A,
    ]
    assert await top3(hybrid(repository, embedder)) == [A, B, E]  # 0.7 vector / 0.3 keyword
    keyword_heavy = hybrid(repository, embedder, weights={"vector": 0.1, "keyword": 0.9})
    assert await top3(keyword_heavy) == [A, C, D]
    asked = len(embedder.requests)
    assert await top3(keyword_heavy) == [A, C, D]
    assert len(embedder.requests) == asked  # the query's vector is kept in memory


async def test_owners_never_see_each_others_memories(store: SqliteStore) -> None:
    repository = await opened(store)
    memories = hybrid(repository, TableEmbedder())
    ids = await add_corpus(memories, owner=BOB)
    await memories.add(fact(B, owner=ALICE_ELSEWHERE))
    assert await memories.find(ALICE_ONLY, QUERY, 5, NOW) == []
    await memories.add(fact(E, owner=ALICE))
    assert await top3(memories) == [E]  # Bob's and the other workspace's stay out
    assert await top3(memories, [("user", BOB)]) == [A, B, E]
    # One text, one vector, shared by every owner that has the text.
    async with store.db.execute("SELECT COUNT(*) FROM embeddings") as cursor:
        assert (await cursor.fetchone()) == (len(CORPUS),)
    assert not await memories.delete(ids[A], ALICE_ONLY)
    assert await memories.delete(ids[A], [("user", BOB)])


async def test_deleting_the_last_memory_of_a_text_deletes_its_vector(store: SqliteStore) -> None:
    repository = await opened(store)
    memories = hybrid(repository, TableEmbedder())
    alices = await memories.add(fact(B))
    bobs = await memories.add(fact(B, owner=BOB))
    await memories.find(ALICE_ONLY, QUERY, 3, NOW)  # loads Alice's vectors into the index
    assert await memories.delete(alices, ALICE_ONLY)
    assert await memories.find(ALICE_ONLY, QUERY, 3, NOW) == []  # gone from the index too
    assert await repository.cached_vectors("test:table", [content_hash(B)])  # Bob still has it
    assert await memories.delete(bobs, [("user", BOB)])
    assert await repository.cached_vectors("test:table", [content_hash(B)]) == {}


async def test_new_memories_join_a_loaded_index_at_once(store: SqliteStore) -> None:
    memories = hybrid(await opened(store), TableEmbedder())
    await memories.add(fact(C))
    assert await top3(memories) == [C]
    await memories.add(fact(B))
    assert await top3(memories) == [B, C]


async def test_an_embeddings_outage_falls_back_to_keywords_and_is_backfilled(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    repository = await opened(store)
    embedder = TableEmbedder()
    memories = hybrid(repository, embedder)
    embedder.failing = True
    with caplog.at_level(logging.WARNING):
        await add_corpus(memories)
        assert await top3(memories) == [A, C, D]  # keywords only, and said so
    assert "stored without a vector" in caplog.text
    assert "falls back to keywords" in caplog.text
    assert len(await repository.without_vectors("test:table", 100)) == len(CORPUS)
    embedder.failing = False
    assert await memories.backfill(limit=100) == len(CORPUS)
    assert await repository.without_vectors("test:table", 100) == []
    assert await top3(memories) == [A, B, E]


async def test_duplicates_are_recognised_by_vector_or_wording(store: SqliteStore) -> None:
    table = {**VECTORS, "Alice is fond of matcha in the morning": (0.95, 0.3, 0, 0, 0, 0)}
    memories = hybrid(await opened(store), TableEmbedder(table))
    await add_corpus(memories)
    twin = await memories.duplicate_of(ALICE_ONLY, "Alice is fond of matcha in the morning")
    assert twin is not None and twin.content == B
    keyword_only = hybrid(await opened(store), None)
    same_words = await keyword_only.duplicate_of(ALICE_ONLY, "office tea KETTLE broken.")
    assert same_words is not None and same_words.content == C
    assert await keyword_only.duplicate_of(ALICE_ONLY, "Office tea kettle fixed") is None


async def test_recall_keeps_top_k_within_the_budget_and_marks_them_used(store: SqliteStore) -> None:
    memories = hybrid(await opened(store), TableEmbedder(), top_k=2)
    await add_corpus(memories)
    recalled = await memories.recall(ALICE_ONLY, QUERY, NOW + timedelta(hours=1))
    assert [m.content for m in recalled] == [A, B]
    await memories.aclose()  # the "used" marks are written in the background
    used, total = await memories.listing(ALICE_ONLY, 2)
    assert [m.content for m in used] == [B, A] and total == len(CORPUS)  # used last, first
    tight = hybrid(await opened(store), TableEmbedder(), recall_tokens=11)
    assert [m.content for m in await tight.recall(ALICE_ONLY, QUERY, NOW)] == [B]  # A is too long
    off = hybrid(await opened(store), None, min_score=5)
    assert await off.recall(ALICE_ONLY, QUERY, NOW) == []


async def test_memories_from_before_hashes_get_them_at_start(store: SqliteStore) -> None:
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO memories (scope, owner, content, created_at) VALUES ('user', ?, ?, ?)",
            (ALICE, B, NOW.isoformat()),
        )
    embedder = TableEmbedder()
    memories = hybrid(await opened(store), embedder)
    assert await memories.backfill() == 1
    assert [m.content for m in await memories.recall(ALICE_ONLY, QUERY, NOW)] == [B]


async def test_forget_user_removes_memories_vectors_and_turns(store: SqliteStore) -> None:
    memories = hybrid(await opened(store), TableEmbedder())
    await memories.add(fact(A))
    await memories.add(fact(B, owner=ALICE_ELSEWHERE))  # another workspace: Alice all the same
    await memories.add(NewMemory("chat", "slack:T1:C9", C, "s1", NOW, author=ALICE))  # she said it
    await memories.add(fact(D, owner=BOB))
    await memories.add(fact(A, owner=BOB))  # shares A's vector
    await record_turns(store, [("dm", "U1"), ("group", "U1"), ("group", "U2")])

    done = await forget_user(store, "slack", "U1")

    assert (done.memories, done.turns, done.messages, done.sessions) == (3, 2, 4, 1)
    remaining = await store.db.execute_fetchall("SELECT owner, content FROM memories ORDER BY id")
    assert [tuple(r) for r in remaining] == [(BOB, D), (BOB, A)]
    hashes = await store.db.execute_fetchall("SELECT content_hash FROM embeddings")
    assert {r[0] for r in hashes} == {content_hash(D), content_hash(A)}
    assert [(t.session_id, t.user_id) for t in await store.turns()] == [("group", "U2")]
    assert await store.load_session(DM_KEY) is None  # her DM is gone with its last message
    group = await store.load_session(GROUP_KEY)
    assert group is not None and [m.text for m in group.messages] == ["bob asks", "answer to bob"]
    assert await forget_user(store, "slack", "U1") == type(done)()  # nothing left to delete


DM_KEY, GROUP_KEY = "slack:T1:D1:", "slack:T1:C9:1.0"


async def record_turns(store: SqliteStore, turns: list[tuple[str, str]]) -> None:
    """Turns of (session id, user id); sessions "dm" and "group"; each a question and an answer."""
    for session, key in (("dm", DM_KEY), ("group", GROUP_KEY)):
        await store.create_session(SessionRecord(session, key, NOW))
    for number, (session, user) in enumerate(turns):
        turn = TurnRecord(
            id=f"t{number}",
            session_id=session,
            ordinal=number + 1,
            platform="slack",
            profile="default",
            model="m",
            warm=False,
            status="ok",
            created_at=NOW,
            segments=None,
            total_ns=1,
            user_id=user,
        )
        who = "alice" if user == "U1" else "bob"
        said = (
            ChatMessage.user_text(f"{who} asks"),
            ChatMessage("assistant", (TextBlock(f"answer to {who}"),)),
        )
        await store.record_turn(turn, said)

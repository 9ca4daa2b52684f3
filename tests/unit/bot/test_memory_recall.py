"""Recall before a turn: prompt lines of the person's readable memories; a broken store costs the
turn its memories, not its answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.memory import HybridMemories, Memory, NewMemory
from agent.messages import TextBlock
from agent.prompt import user_message
from agent.tools.context import ToolContext
from bot.recall import Recall, RecallAhead, context_of
from bot.store.memories import SqliteMemories
from bot.store.sqlite import SqliteStore
from channels.base import Author, InboundMessage, SessionKey
from config.memory import MemorySettings
from tests.harness import SteppingClock

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ALICE = ToolContext("slack:T1:C1:1.0", "s1", "slack", "T1", "C1", "U1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "hearth.db") as opened:
        yield opened


async def recall_on(store: SqliteStore, **settings: object) -> Recall:
    repository = SqliteMemories(store)
    await repository.prepare()
    memories = HybridMemories(repository, MemorySettings.model_validate(settings))
    for scope, owner, text in (
        ("user", ALICE.user_owner, "Alice takes her tea without sugar"),
        ("chat", ALICE.chat_owner, "This channel plans the tea tasting"),
        ("workspace", ALICE.workspace_owner, "The office tea is in the kitchen"),
        ("global", "", "Tea is served at four"),
        ("user", "slack:T1:U2", "Bob takes his tea with lemon"),
    ):
        await memories.add(NewMemory(scope, owner, text, "s0", NOW))  # type: ignore[arg-type]
    return Recall(memories, SteppingClock())


async def test_the_prompt_gets_every_readable_scope_but_no_one_elses(store: SqliteStore) -> None:
    recall = await recall_on(store)
    lines = await recall.for_turn(ALICE, "sugar, tasting, kitchen, four o'clock or lemon?")
    assert sorted(line.split(" ", 1)[1] for line in lines) == [
        "(chat) This channel plans the tea tasting",
        "(global) Tea is served at four",
        "(user) Alice takes her tea without sugar",
        "(workspace) The office tea is in the kitchen",
    ]
    assert all(line.startswith("#") for line in lines)
    words, context = user_message("hi", NOW, {}, lines).blocks
    assert isinstance(words, TextBlock) and isinstance(context, TextBlock)
    assert words.text == "hi"
    assert context.text.count('<untrusted source="recalled memories">') == 1
    assert "Bob" not in context.text


async def test_recall_can_be_turned_off(store: SqliteStore) -> None:
    recall = await recall_on(store, recall=False)
    assert await recall.for_turn(ALICE, "how do I take my tea?") == []


async def test_a_broken_store_costs_the_memories_not_the_turn(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    recall = await recall_on(store)
    async with store.transaction() as db:
        await db.execute("DROP TABLE memories_fts")
    with caplog.at_level(logging.ERROR):
        assert await recall.for_turn(ALICE, "how do I take my tea?") == []
    assert "memory recall failed, session slack:T1:C1:1.0" in caplog.text


def test_a_command_sees_the_owners_of_its_writer() -> None:
    key = SessionKey("telegram", "bot7", "-100", "12")
    message = InboundMessage(key, "m1", Author("42", "Alice"), "/memory", received_ns=0)
    context = context_of(message)
    assert (context.user_owner, context.chat_owner, context.workspace_owner) == (
        "telegram:bot7:42",
        "telegram:bot7:-100",
        "telegram:bot7",
    )


def alice_says(text: str, ident: str = "m1") -> InboundMessage:
    return InboundMessage(
        SessionKey("slack", "T1", "C1", "1.0"), ident, Author("U1", "Alice"), text, received_ns=0
    )


class CountingMemories(HybridMemories):
    """The hybrid search, counting its recalls."""

    recalls = 0

    async def recall(self, *args: Any, **kwargs: Any) -> list[Memory]:
        self.recalls += 1
        return await super().recall(*args, **kwargs)


async def counting_recall(store: SqliteStore) -> tuple[Recall, CountingMemories]:
    repository = SqliteMemories(store)
    await repository.prepare()
    memories = CountingMemories(repository, MemorySettings())
    await memories.add(NewMemory("user", ALICE.user_owner, "Alice takes her tea black", "s0", NOW))
    return Recall(memories, SteppingClock()), memories


async def test_a_recall_started_ahead_is_the_one_its_turn_uses(store: SqliteStore) -> None:
    recall, memories = await counting_recall(store)
    message = alice_says("how do I take my tea?")
    recall.start_ahead(message)
    lines = await recall.for_messages([message], ALICE, message.text)
    assert [line.split(" ", 1)[1] for line in lines] == ["(user) Alice takes her tea black"]
    assert memories.recalls == 1
    # Collected once: the next turn for the same message id recalls anew.
    assert await recall.for_messages([message], ALICE, message.text) == lines
    assert memories.recalls == 2


async def test_a_batch_of_several_messages_recalls_for_their_joint_text(
    store: SqliteStore,
) -> None:
    recall, memories = await counting_recall(store)
    first, second = alice_says("hello", "m1"), alice_says("how do I take my tea?", "m2")
    recall.start_ahead(first)
    lines = await recall.for_messages([first, second], ALICE, "hello\n\nhow do I take my tea?")
    assert [line.split(" ", 1)[1] for line in lines] == ["(user) Alice takes her tea black"]
    before = memories.recalls  # 1 or 2: the recall ahead of "hello" alone was dropped
    assert await recall.for_messages([first], ALICE, "hello") == []
    assert memories.recalls == before + 1  # nothing was left ahead for "hello"


async def test_the_middleware_recalls_ahead_only_for_turns_that_start_at_once(
    store: SqliteStore,
) -> None:
    recall, memories = await counting_recall(store)
    passed: list[str] = []

    async def endpoint(message: InboundMessage) -> None:
        passed.append(message.message_id)

    ahead = RecallAhead(recall, lambda m: m.message_id == "now")
    await ahead(alice_says("tea?", "later"), endpoint)
    await ahead(alice_says("tea?", "now"), endpoint)
    assert passed == ["later", "now"]
    assert await recall.for_messages([alice_says("tea?", "now")], ALICE, "tea?")
    assert memories.recalls == 1  # only "now" was recalled, and only once


async def test_recall_ahead_does_nothing_when_recall_is_off(store: SqliteStore) -> None:
    recall = await recall_on(store, recall=False)
    message = alice_says("how do I take my tea?")
    recall.start_ahead(message)
    assert await recall.for_messages([message], ALICE, message.text) == []


async def test_a_recall_ahead_older_than_the_sessions_last_turn_is_not_used(
    store: SqliteStore,
) -> None:
    # A turn that ended after the recall started may have saved a memory it should see.
    recall, memories = await counting_recall(store)
    message = alice_says("how do I take my tea?")
    recall.start_ahead(message)
    await asyncio.sleep(0)
    later = time.monotonic()  # the session's last turn ended after the recall started
    await recall.for_messages([message], ALICE, message.text, not_before=later)
    await recall.for_messages([message], ALICE, message.text)  # nothing ahead left either
    assert memories.recalls == 3  # ahead (unused), then anew twice


async def test_closing_stops_the_recalls_no_turn_collected(store: SqliteStore) -> None:
    recall, _memories = await counting_recall(store)
    recall.start_ahead(alice_says("tea?", "refused"))  # e.g. its writer was over a limit
    await recall.aclose()
    assert await recall.for_messages([alice_says("tea?", "refused")], ALICE, "tea?")  # anew

"""remember / recall / forget: keyword search over the memories table (FTS5), confined to the
people, chats and workspaces a conversation may see; through the model end to end and on the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ToolError
from agent.memory.hybrid import HybridMemories
from agent.tools.context import ToolContext
from agent.tools.memory import NewMemory, memory_tools, readable_owners, writable_owners
from agent.tools.registry import Tool
from bot.store.memories import SqliteMemories, fts_query
from bot.store.sqlite import SqliteStore
from bot.wiring import open_store
from config.memory import MemorySettings
from tests.e2e.test_console_session import anthropic_provider
from tests.e2e.test_tools import tool_results
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text, ToolCall
from tests.harness import SteppingClock, console_chat, settings_for, stored_turns

ALICE = ToolContext("telegram:bot1:100:", "s-a", "telegram", "bot1", "100", "alice")
ALICE_IN_GROUP = ToolContext("telegram:bot1:-5:", "s-g", "telegram", "bot1", "-5", "alice")
BOB_IN_GROUP = ToolContext("telegram:bot1:-5:", "s-g", "telegram", "bot1", "-5", "bob")
ALICE_ELSEWHERE = ToolContext("slack:T9:C1:1.2", "s-x", "slack", "T9", "C1", "alice")
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "hearth.db") as opened:
        yield opened


def tools_by_name(memories: SqliteMemories) -> dict[str, Tool[Any]]:
    return {tool.name: tool for tool in memory_tools(memories, SteppingClock())}


async def test_memories_stay_with_their_person_chat_and_workspace(store: SqliteStore) -> None:
    tools = tools_by_name(SqliteMemories(store))
    remember, recall = tools["remember"], tools["recall"]
    await remember.invoke({"content": "Alice is allergic to peanuts"}, ALICE)
    await remember.invoke({"content": "The group meets on Tuesdays", "scope": "chat"}, BOB_IN_GROUP)
    await remember.invoke(
        {"content": "Deploys happen on Tuesdays", "scope": "workspace"}, BOB_IN_GROUP
    )

    assert "peanuts" in await recall.invoke({"query": "peanuts allergy"}, ALICE_IN_GROUP)
    assert await recall.invoke({"query": "peanuts"}, BOB_IN_GROUP) == "No saved memories match."
    assert await recall.invoke({"query": "peanuts"}, ALICE_ELSEWHERE) == (
        "No saved memories match."
    )
    in_group = await recall.invoke({"query": "tuesdays"}, ALICE_IN_GROUP)
    assert "The group meets on Tuesdays" in in_group and "Deploys" in in_group
    in_dm = await recall.invoke({"query": "tuesdays"}, ALICE)
    assert "Deploys happen" in in_dm and "group meets" not in in_dm  # chat facts stay in the chat
    assert await recall.invoke({"query": "tuesdays"}, ALICE_ELSEWHERE) == (
        "No saved memories match."
    )


async def test_forget_only_touches_memories_the_conversation_owns(store: SqliteStore) -> None:
    tools = tools_by_name(SqliteMemories(store))
    saved = await tools["remember"].invoke({"content": "Alice prefers tea"}, ALICE)
    memory_id = int(saved.removeprefix("Remembered as #").split(" ")[0])

    with pytest.raises(ToolError, match=f"no memory #{memory_id}"):
        await tools["forget"].invoke({"memory_id": memory_id}, BOB_IN_GROUP)
    assert await tools["forget"].invoke({"memory_id": memory_id}, ALICE) == f"Forgot #{memory_id}."
    assert await tools["recall"].invoke({"query": "tea"}, ALICE) == "No saved memories match."


async def test_search_ranks_by_keywords_and_marks_memories_used(store: SqliteStore) -> None:
    memories = SqliteMemories(store)
    owner = ALICE.user_owner

    async def add(content: str, importance: float = 0.5) -> int:
        return await memories.add(NewMemory("user", owner, content, "s-a", NOW, importance))

    tea = await add("Alice drinks green tea every morning")
    await add("Alice likes green jackets")
    plain = await add("Alice owns a cat", importance=0.1)
    important = await add("Alice owns a dog", importance=0.9)
    assert await add("Alice drinks green tea every morning") == tea  # stored once

    best = await memories.search(readable_owners(ALICE), "green tea drinking", 5, NOW)
    assert [m.id for m in best][:1] == [tea]  # more terms matched, stemming: drinking ~ drinks
    pets = await memories.search(readable_owners(ALICE), "owns", 5, NOW)
    assert [m.id for m in pets] == [important, plain]  # equal BM25: importance decides
    assert await memories.search(readable_owners(ALICE), '"; DROP TABLE memories; --', 5, NOW) == []
    assert await memories.search(readable_owners(ALICE), "NEAR(tea cat) OR *", 5, NOW)
    recent = await memories.search(readable_owners(ALICE), "", 2, NOW)
    assert len(recent) == 2
    async with store.db.execute(
        "SELECT COUNT(*) FROM memories WHERE last_used_at IS NOT NULL"
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None and row[0] == 4  # every memory returned above was marked used
    assert not await memories.delete(tea, writable_owners(ALICE_ELSEWHERE))


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("green tea", '"green" OR "tea"'),
        ('tea" OR 1=1 --', '"tea" OR "or" OR "1"'),
        ("Tea tea TEA", '"tea"'),
        ("?!", ""),
    ],
)
def test_queries_are_quoted_words(text: str, query: str) -> None:
    assert fts_query(text) == query


async def test_the_model_remembers_for_one_person_across_restarts(tmp_path: Path) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model))
        model.script(
            Reply(ToolCall("remember", {"content": "Alice's favourite tea is sencha"})),
            Reply(Text("Noted.")),
        )
        async with console_chat(settings, user="alice") as chat:
            await chat.say("my favourite tea is sencha")
        model.script(Reply(ToolCall("recall", {"query": "favourite tea"})), Reply(Text("No idea.")))
        async with console_chat(settings, user="bob") as chat:
            await chat.say("what is my favourite tea?")
        model.script(Reply(ToolCall("recall", {"query": "favourite tea"})), Reply(Text("Sencha.")))
        async with console_chat(settings, user="alice") as chat:
            reply = await chat.say("what is my favourite tea?")

    requests = model.chat_requests()
    [(_, saved)] = tool_results(model, requests[1])
    assert saved == "Remembered as #1 (user scope)."
    [(_, for_bob)] = tool_results(model, requests[3])
    assert for_bob == "No saved memories match."
    [(_, for_alice)] = tool_results(model, requests[5])
    assert for_alice.startswith("#1 [user, ") and for_alice.endswith(
        "Alice's favourite tea is sencha"
    )
    assert reply.startswith("Sencha.")
    offered = {t["name"] for t in requests[0].json["tools"]}
    assert {"remember", "recall", "forget", "set_reminder", "web_fetch", "time"} <= offered


async def test_recall_for_the_prompt_marks_what_it_chose_as_used_in_the_background(
    store: SqliteStore,
) -> None:
    repository = SqliteMemories(store)
    memories = HybridMemories(repository, MemorySettings(), None)
    owner = ALICE.user_owner

    def fact(text: str) -> NewMemory:
        return NewMemory("user", owner, text, ALICE.session_id, NOW)

    kept = await memories.add(fact("Alice is allergic to peanuts"))
    await memories.add(fact("Alice lives in Lisbon"))

    chosen = await memories.recall(readable_owners(ALICE), "peanuts allergy", NOW)
    await memories.aclose()  # the service does this before the store closes

    assert chosen[0].id == kept
    async with store.db.execute(
        "SELECT id FROM memories WHERE last_used_at IS NOT NULL ORDER BY id"
    ) as cursor:
        assert [row[0] for row in await cursor.fetchall()] == sorted(m.id for m in chosen)
    assert await memories.recall(readable_owners(BOB_IN_GROUP), "peanuts", NOW) == []


async def test_a_remembered_fact_records_the_turn_that_saved_it(tmp_path: Path) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model))
        model.script(
            Reply(Text("Hello Alice.")),
            Reply(ToolCall("remember", {"content": "Alice's favourite tea is sencha"})),
            Reply(Text("Noted.")),
        )
        async with console_chat(settings, user="alice") as chat:
            await chat.say("hi")
            await chat.say("my favourite tea is sencha")

    first, saving = sorted(await stored_turns(settings), key=lambda t: t.ordinal)
    assert [t.name for t in first.tools] == [] and [t.name for t in saving.tools] == ["remember"]
    async with open_store(settings) as store:
        async with store.db.execute(
            "SELECT content, source_session, source_turn, author FROM memories"
        ) as cursor:
            rows = [tuple(row) for row in await cursor.fetchall()]
        outside_a_turn = await tools_by_name(SqliteMemories(store))["remember"].invoke(
            {"content": "Alice drinks it at noon"}, ALICE
        )
        memory_id = int(outside_a_turn.removeprefix("Remembered as #").split(" ")[0])
        async with store.db.execute(
            "SELECT source_turn FROM memories WHERE id = ?", (memory_id,)
        ) as cursor:
            unknown = await cursor.fetchone()

    # The memory points at the turn that called remember, not at the session's earlier turn.
    assert rows == [
        ("Alice's favourite tea is sencha", saving.session_id, saving.id, "console:local:alice")
    ]
    assert first.id != saving.id
    assert unknown is not None and unknown[0] is None  # no turn: NULL, not an empty id

"""A long conversation crosses the compaction threshold; the prefix is stable again afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.wiring import open_store
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.harness import console_chat, settings_for

MARKER = "Summarize the conversation below."
SUMMARY = "SUMMARY: the user likes tangerines."


def system_text(request: Any) -> str:
    return "".join(block["text"] for block in request.json["system"])


def is_summary(request: Any) -> bool:
    return MARKER in request.json["messages"][-1]["content"][0]["text"]


async def test_compaction_folds_old_turns_into_the_stable_block(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        fake.script_for(MARKER, Reply(Text(SUMMARY)))
        settings = settings_for(
            tmp_path,
            anthropic_provider(fake),
            models={"models": {"anthropic:test-model": {"context_window": 1000}}},
            agent={
                "compaction": {"threshold": 0.5, "keep_last": 1, "tier": "default"},
                "profiles": {"default": {"tools": ["time"]}},
            },
        )
        async with console_chat(settings) as chat:
            for n in range(8):
                await chat.say(f"message number {n}: I like tangerines")
                if any(is_summary(r) for r in fake.chat_requests()):
                    break
            assert any(is_summary(r) for r in fake.chat_requests()), "threshold never crossed"
            await chat.say("after compaction one")
            await chat.say("after compaction two")
        async with open_store(settings) as store:
            turns = await store.turns()
            async with store.db.execute("SELECT COUNT(*) FROM messages") as cursor:
                row = await cursor.fetchone()
        async with console_chat(settings) as chat:  # a restart restores the compacted session
            await chat.say("after restart")

    requests = fake.chat_requests()
    at = next(i for i, r in enumerate(requests) if is_summary(r))
    before, first_after, second_after = requests[at - 1], requests[at + 1], requests[at + 2]
    assert SUMMARY not in system_text(before)
    assert SUMMARY in system_text(first_after) and SUMMARY in system_text(second_after)
    # The transcript was shortened to the last turn plus the new message...
    assert len(first_after.json["messages"]) == 3 < len(before.json["messages"]) + 2
    # ...and the prefix is append-only again from the turn after the compaction.
    assert fake.prompt_bytes(second_after).startswith(
        fake.prompt_bytes(first_after, upto_breakpoint=-1)
    )
    assert fake.usages[at + 2]["cache_read_input_tokens"] > 0
    # Nothing was deleted: every turn and message stays in the store.
    # (compaction runs after a reply was shown, so the loop above may have sent one more turn)
    turn_requests = [r for r in requests if not is_summary(r)]
    assert len(turns) == len(turn_requests) - 1  # the last one came after the restart
    assert row is not None and row[0] == 2 * len(turns)
    restored = turn_requests[-1]
    assert SUMMARY in system_text(restored)
    assert len(restored.json["messages"]) == len(turn_requests[-2].json["messages"]) + 2
    assert fake.prompt_bytes(restored).startswith(
        fake.prompt_bytes(turn_requests[-2], upto_breakpoint=-1)
    )


async def test_compact_command_forces_a_compaction(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        fake.script_for(MARKER, Reply(Text(SUMMARY)))
        settings = settings_for(
            tmp_path,
            anthropic_provider(fake),
            agent={"compaction": {"keep_last": 1, "tier": "default"}},
        )
        async with console_chat(settings) as chat:
            assert "Nothing to compact" in await chat.say("/compact")
            await chat.say("one")
            await chat.say("two")
            assert "Compacted" in await chat.say("/compact")
            await chat.say("three")

    last = fake.chat_requests()[-1]
    assert SUMMARY in system_text(last)
    assert len(last.json["messages"]) == 3

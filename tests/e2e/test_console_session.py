"""A conversation through the console channel, the real SDKs and the loopback model fakes."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.stats import summarize
from bot.timeline import seconds
from bot.wiring import open_store
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply, Text, ToolCall
from tests.harness import CountingStore, console_chat, settings_for, stored_turns

FOOTER = re.compile(r"⏱ (\d+\.\d\d) s to first token")
# OpenAI caches only prompts of 1,024 tokens and more: give the persona some length.
LONG_INSTRUCTIONS = "You are Hearth, a helpful assistant. " + "Be kind and precise. " * 300


def anthropic_provider(fake: FakeAnthropic) -> dict[str, Any]:
    return {
        "anthropic": {
            "kind": "anthropic",
            "api_key": "sk-test",
            "base_url": fake.url,
            "max_retries": 0,
        }
    }


def openai_provider(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "openai": {
            "kind": "openai",
            "api_key": "sk-test",
            "base_url": f"{fake.url}/v1",
            "max_retries": 0,
        }
    }


async def test_three_turns_are_warm_with_a_byte_stable_prefix_and_cache_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeAnthropic() as fake:
        settings = settings_for(tmp_path, anthropic_provider(fake))
        fake.script(Reply(Text("Hello!")), Reply(Text("Again.")), Reply(Text("Third.")))
        async with open_store(settings) as sqlite:
            store = CountingStore(sqlite)
            async with console_chat(settings, store=store) as chat:
                replies = [await chat.say(t) for t in ("hi", "and again", "once more")]
            assert store.loads == 1  # only the first turn looked in the store
            turns = await sqlite.turns()

    assert [r.split("\n")[0] for r in replies] == ["Hello!", "Again.", "Third."]
    assert [t.warm for t in turns] == [False, True, True]
    assert [t.ordinal for t in turns] == [1, 2, 3]

    requests = fake.chat_requests()
    assert len(requests) == 3
    for earlier, later in itertools.pairwise(requests):
        cached_prefix = fake.prompt_bytes(earlier, upto_breakpoint=-1)
        assert fake.prompt_bytes(later).startswith(cached_prefix)
        # ...while the volatile context (time) of each new message differs.
        assert _last_user_text(earlier) != _last_user_text(later)
        assert "time: " in _last_user_text(later)
    for index in (1, 2):
        expected = fake.prompt_tokens(requests[index - 1], upto_breakpoint=-1)
        assert fake.usages[index]["cache_read_input_tokens"] == expected
        assert turns[index].usage.cache_read_tokens == expected
    assert turns[0].usage.cache_read_tokens == 0

    # hearth stats shows the cache share that the fake reported.
    config = tmp_path / "hearth.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nmodels:\n  providers:\n    anthropic: {{kind: anthropic, api_key: x, base_url: '{fake.url}'}}\n"
        "  tiers:\n    default: ['anthropic:test-model']\n"
    )
    assert await asyncio.to_thread(main, ["-c", str(config), "stats"]) == 0
    table = capsys.readouterr().out
    warm = next(r for r in summarize(turns) if r.group == "session" and r.value == "warm")
    assert warm.cache_read_share > 0.5
    warm_line = next(
        line for line in table.splitlines() if line.startswith("session") and " warm " in line
    )
    assert f"{warm.cache_read_share:.0%}" in warm_line


async def test_openai_turns_share_a_cached_prefix_and_cache_key(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        settings = settings_for(
            tmp_path,
            openai_provider(fake),
            agent={"profiles": {"default": {"instructions": LONG_INSTRUCTIONS, "tools": ["time"]}}},
        )
        async with console_chat(settings) as chat:
            for text in ("hi", "and again", "once more"):
                assert FOOTER.search(await chat.say(text))
        turns = await stored_turns(settings)

    requests = fake.chat_requests()
    for earlier, later in itertools.pairwise(requests):
        assert fake.prompt_bytes(later).startswith(fake.prompt_bytes(earlier))
    keys = {r.json["prompt_cache_key"] for r in requests}
    assert len(keys) == 1 and None not in keys
    assert turns[0].usage.cache_read_tokens == 0
    assert turns[1].usage.cache_read_tokens >= 1024
    assert turns[2].usage.cache_read_tokens >= turns[1].usage.cache_read_tokens
    assert (
        turns[1].usage.cache_read_tokens == fake.usages[1]["prompt_tokens_details"]["cached_tokens"]
    )


async def test_restart_restores_the_session_cold_with_its_transcript(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        settings = settings_for(tmp_path, anthropic_provider(fake))
        fake.script(Reply(Text("First answer.")), Reply(Text("Second answer.")))
        async with console_chat(settings) as chat:
            await chat.say("remember the word tangerine")
            await chat.say("and the number 7")
        fake.script(Reply(Text("tangerine and 7")))
        async with console_chat(settings) as chat:
            reply = await chat.say("what did I tell you?")
        turns = await stored_turns(settings)

    assert reply.startswith("tangerine and 7")
    assert [(t.ordinal, t.warm) for t in turns] == [(1, False), (2, True), (3, False)]
    assert len({t.session_id for t in turns}) == 1
    last = fake.chat_requests()[-1].json
    texts = [m["content"][0].get("text", "") for m in last["messages"]]
    assert texts[0].startswith("remember the word tangerine")
    assert texts[1] == "First answer."
    assert texts[2].startswith("and the number 7")
    assert texts[3] == "Second answer."
    assert texts[4].startswith("what did I tell you?")
    # Restored bytes equal the bytes sent before the restart, so the provider cache still hits.
    before = fake.chat_requests()[1]
    assert fake.prompt_bytes(fake.chat_requests()[2]).startswith(
        fake.prompt_bytes(before, upto_breakpoint=-1)
    )


async def test_every_turn_segments_sum_to_ttft_and_the_footer_shows_it(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        settings = settings_for(tmp_path, anthropic_provider(fake))
        fake.script(
            Reply(Text("Slow start.", delay=0.05)),
            Reply(ToolCall("time", {"timezone": "Europe/Berlin"})),
            Reply(Text("It is morning.")),
            Reply(Text("Bye.")),
        )
        async with console_chat(settings) as chat:
            replies = [await chat.say(t) for t in ("hello", "what time is it?", "bye")]
        turns = await stored_turns(settings)

    assert len(turns) == 3
    for reply, turn in zip(replies, turns, strict=True):
        assert turn.segments is not None
        seg = turn.segments
        assert seg.queue + seg.session + seg.prepare + seg.model + seg.deliver == turn.ttft_ns
        assert min(seg.queue, seg.session, seg.prepare, seg.model, seg.deliver) >= 0
        assert turn.total_ns >= seg.ttft
        match = FOOTER.search(reply)
        assert match is not None, reply
        assert match.group(1) == seconds(seg.ttft)
    # The first reply waited 50 ms for its first token, inside the model segment.
    assert turns[0].segments is not None and turns[0].segments.model >= 50_000_000
    # The tool round ran inside the turn and was recorded; its result went back to the model.
    assert [(t.name, t.ok) for t in turns[1].tools] == [("time", True)]
    tool_round = fake.chat_requests()[2].json["messages"]
    result = tool_round[-1]["content"][0]
    assert result["type"] == "tool_result" and "Europe/Berlin" in result["content"]


def _last_user_text(request: Any) -> str:
    content = request.json["messages"][-1]["content"]
    return "".join(block.get("text", "") for block in content)

"""Long-term memory end to end: a fact told in one thread is recalled in another thread of the same
person (in the volatile part of the request), never for another person or workspace; the cached
prefix stays byte-stable while the recalled memories change; ``/memory`` and ``/forget``."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any

from bot.wiring import open_runtime
from channels.slack import SlackChannel
from tests.e2e.slack_support import answered, running
from tests.e2e.test_console_session import anthropic_provider, openai_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import RecordedRequest
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply, Text, ToolCall
from tests.fakes.slack import CHANNEL_ID, DM_CHANNEL_ID, TEAM_ID, USER_ID, FakeSlack
from tests.harness import SteppingClock, console_chat, settings_for, stored_turns, wait_until

MEMORY_BLOCK = re.compile(r'<untrusted source="recalled memories">\n(.*?)\n</untrusted>', re.DOTALL)
FACT = "Alice's favourite tea is sencha"
OTHER_TEAM = "T0ELSEWHERE"


def new_message(request: RecordedRequest) -> tuple[str, str]:
    """(what the person wrote, the volatile context) of the request's new user message."""
    content = request.json["messages"][-1]["content"]
    words, *context = (block["text"] for block in content if block["type"] == "text")
    return words, "".join(context)


def recalled(request: RecordedRequest) -> list[str]:
    """The memory lines in the new user message's volatile part."""
    _words, context = new_message(request)
    return [line for block in MEMORY_BLOCK.findall(context) for line in block.splitlines()]


def cached_part(request: RecordedRequest) -> str:
    """System block and tool definitions: the stable prefix."""
    return json.dumps([request.json["system"], request.json.get("tools", [])])


async def other_workspace_mention(slack: FakeSlack, text: str) -> str:
    """Alice's user id writes in a workspace of another team (Slack ids are per workspace)."""
    message = await slack.user_message(text, mention=True, events=())
    event: dict[str, Any] = {"type": "app_mention", "user": USER_ID, "text": message.text,
                             "ts": message.ts, "channel": CHANNEL_ID, "event_ts": message.ts,
                             "team": OTHER_TEAM}  # fmt: skip
    body = slack.event_body(event)
    body["team_id"] = OTHER_TEAM
    body["authorizations"][0]["team_id"] = OTHER_TEAM
    await slack.deliver(body)
    return message.ts


async def test_a_fact_told_in_one_thread_is_recalled_in_another_of_the_same_person_only(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeOpenAI() as embedder, FakeSlack() as slack:
        settings = settings_for(
            tmp_path,
            {**anthropic_provider(model), **openai_provider(embedder)},
            channels={"slack": slack.channel_config()},
            access={"dm": "open"},
            memory={"embedder": {"provider": "openai", "model": "text-embedding-3-small"}},
        )
        model.script(
            Reply(ToolCall("remember", {"content": FACT})),
            Reply(Text("Noted.")),
            Reply(Text("Sencha, as you like it.")),
            Reply(Text("I don't know your taste yet.")),
            Reply(Text("I don't know your taste yet.")),
        )
        async with running(settings):
            told = await slack.user_message("my favourite tea is sencha", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, told.ts, 1))
            asked = await slack.user_message("which tea should I buy?", channel=DM_CHANNEL_ID)
            await wait_until(lambda: answered(slack, DM_CHANNEL_ID, asked.ts, 1))
            bob = await slack.user_message("which tea should I buy?", mention=True, user="U0BOB")
            await wait_until(lambda: answered(slack, CHANNEL_ID, bob.ts, 1))
            elsewhere = await other_workspace_mention(slack, "which tea should I buy?")
            await wait_until(lambda: answered(slack, CHANNEL_ID, elsewhere, 1))
        turns = await stored_turns(settings)

    assert [(t.user_id, t.workspace) for t in turns] == [
        (USER_ID, TEAM_ID),
        (USER_ID, TEAM_ID),
        ("U0BOB", TEAM_ID),
        (USER_ID, OTHER_TEAM),
    ]
    requests = model.chat_requests()
    assert len(requests) == 5
    first, _tool_round, in_dm, for_bob, other_team = requests
    assert recalled(first) == []  # nothing known yet
    # The other thread (a DM) recalls the fact, in the new message's volatile part only.
    words, context = new_message(in_dm)
    assert words == "which tea should I buy?"
    [line] = recalled(in_dm)
    assert line.endswith(f"(user) {FACT}") and line.startswith("- #1 ")
    assert context.index("time: ") < context.index("recalled memories")
    assert "sencha" not in cached_part(in_dm)
    assert cached_part(in_dm) == cached_part(first)
    # Not for another person, nor for the same user id in another workspace.
    for request in (for_bob, other_team):
        assert recalled(request) == []
        assert "sencha" not in json.dumps(request.json)
    assert [m.body for m in slack.bot_replies(DM_CHANNEL_ID, asked.ts)] == [
        "Sencha, as you like it."
    ]
    # The fact's text was embedded once; each question once (the same question: cached).
    texts = embedder.embedded_texts()
    assert texts.count(FACT) == 1
    assert texts.count("which tea should I buy?") == 1


async def test_the_cached_prefix_stays_byte_stable_while_recalled_memories_change(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model))  # keyword-only memory
        model.script(
            Reply(ToolCall("remember", {"content": FACT})),
            Reply(Text("Noted.")),
            Reply(ToolCall("remember", {"content": "Alice brews her tea at 70 degrees"})),
            Reply(Text("Good to know.")),
            Reply(Text("Sencha at 70 degrees.")),
        )
        async with console_chat(settings, user="alice") as chat:
            await chat.say("my favourite tea is sencha")
            await chat.say("I brew tea at 70 degrees")
            reply = await chat.say("which tea, and how hot?")

    assert reply.startswith("Sencha at 70 degrees.")
    requests = model.chat_requests()
    assert len(requests) == 5
    for earlier, later in itertools.pairwise(requests):
        assert model.prompt_bytes(later).startswith(model.prompt_bytes(earlier, upto_breakpoint=-1))
    turn_starts = [requests[0], requests[2], requests[4]]
    memories = [[line.split(") ", 1)[1] for line in recalled(r)] for r in turn_starts]
    assert memories[0] == []
    assert memories[1] == [FACT]
    assert sorted(memories[2]) == sorted([FACT, "Alice brews her tea at 70 degrees"])
    assert len({cached_part(r) for r in requests}) == 1


async def test_memory_and_forget_commands(tmp_path: Path) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model))
        model.script(
            Reply(ToolCall("remember", {"content": FACT})),
            Reply(ToolCall("remember", {"content": "Alice lives in Kyoto"})),
            Reply(Text("Noted both.")),
        )
        async with console_chat(settings, user="alice") as chat:
            assert (await chat.say("/memory")).startswith("I don't remember anything")
            await chat.say("I like sencha and live in Kyoto")
            listing = await chat.say("/memory")
            async with console_chat(settings, user="bob") as other:
                refused = await other.say("/forget 1")
                bobs = await other.say("/memory")
            forgot_one = await chat.say("/forget #1")
            usage = await chat.say("/forget sencha")
            after = await chat.say("/memory")
            forgot_all = await chat.say("/forget all")
            empty = await chat.say("/memory")

    assert listing.startswith("What I remember about you here (2):")
    assert "#1 Alice's favourite tea is sencha" in listing and "#2 Alice lives in Kyoto" in listing
    assert refused.startswith("There is no memory #1 that you may delete here.")
    assert bobs.startswith("I don't remember anything about you here yet.")
    assert forgot_one.startswith("Forgot #1.")
    assert usage.startswith("/forget <number> deletes one memory")
    assert "sencha" not in after and "#2 Alice lives in Kyoto" in after
    assert forgot_all.startswith("Forgot 1 memory about you here.")
    assert empty.startswith("I don't remember anything")
    assert len(model.chat_requests()) == 3  # commands never reach the model


async def test_a_message_waiting_behind_a_turn_recalls_what_that_turn_saved(
    tmp_path: Path,
) -> None:
    # A message for an idle lane is recalled for while the inbox stores it (bot/recall.py); one
    # that waits behind a turn is recalled for only when its own turn starts.
    gate = asyncio.Event()
    async with FakeAnthropic() as model, FakeSlack() as slack:
        settings = settings_for(
            tmp_path, anthropic_provider(model), channels={"slack": slack.channel_config()}
        )
        model.script(
            Reply(Text("Let me note that.", gate=gate), ToolCall("remember", {"content": FACT})),
            Reply(Text("Noted.")),
            Reply(Text("Sencha.")),
        )
        assert settings.channels.slack is not None
        channel = SlackChannel(settings.channels.slack)
        async with open_runtime(settings, [channel], clock=SteppingClock()) as runtime:
            told = await slack.user_message("my favourite tea is sencha", mention=True)
            await wait_until(lambda: len(model.chat_requests()) == 1)  # the model is answering
            await slack.user_message("which tea is my favourite?", thread_ts=told.ts)
            await wait_until(lambda: runtime.queue_depth == 1)  # it waits in the lane
            gate.set()  # the first turn goes on: it saves the fact, then answers
            await wait_until(lambda: answered(slack, CHANNEL_ID, told.ts, 2))
    first, _tool_round, waiting = model.chat_requests()
    assert recalled(first) == []
    [line] = recalled(waiting)
    assert line.endswith(f"(user) {FACT}")

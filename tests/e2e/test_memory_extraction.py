"""Extraction in the pruning job: durable facts from the conversation, read by the model once per
turn, stored in the person's scope without repeats, and recalled in later turns."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.wiring import open_runtime
from channels.console import ConsoleChannel
from config import Settings
from tests.e2e.test_console_session import anthropic_provider
from tests.e2e.test_memory_recall import recalled
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Fault, RecordedRequest
from tests.fakes.script import Reply, Text
from tests.harness import WAIT_S, Chat, Lines, console_chat, settings_for, wait_until

MARKER = "Extract durable facts"
CONVERSATION = re.compile(r'<untrusted source="conversation">\n(.*?)\n</untrusted>', re.DOTALL)
KNOWN = re.compile(r'<untrusted source="known facts">\n(.*?)\n</untrusted>', re.DOTALL)


def extraction_requests(model: FakeAnthropic) -> list[RecordedRequest]:
    return [r for r in model.chat_requests() if MARKER in _user_text(r)]


def _user_text(request: RecordedRequest) -> str:
    return "".join(b.get("text", "") for b in request.json["messages"][-1]["content"])


async def remembered(chat: Chat, needle: str) -> str:
    """``/memory`` until it mentions ``needle`` (the job runs on its own schedule)."""
    async with asyncio.timeout(WAIT_S):
        while needle not in (listing := await chat.say("/memory")):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return listing


async def test_facts_are_extracted_every_turn_without_repeats_and_recalled(tmp_path: Path) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(
            tmp_path,
            anthropic_provider(model),
            memory={"extraction": {"every_turns": 1}},
            maintenance={"prune_interval": "50ms"},
        )
        model.script_for(
            MARKER,
            Reply(Text("Facts:\n- Alice lives in Kyoto\n- Alice works as a potter")),
            Reply(Text("- Alice lives in Kyoto\n- Alice drinks sencha every morning")),
        )
        model.script(Reply(Text("Kyoto is lovely.")), Reply(Text("Sencha, then.")))
        async with console_chat(settings, user="alice") as chat:
            await chat.say("I moved to Kyoto, I make pottery for a living")
            first = await remembered(chat, "potter")
            await chat.say("which tea fits life in Kyoto? I drink sencha every morning")
            second = await remembered(chat, "sencha")
            await wait_until(lambda: model.pending_scripts() == 0)

    assert first.startswith("What I remember about you here (2):")
    assert second.startswith("What I remember about you here (3):")  # Kyoto was not repeated
    assert second.count("Alice lives in Kyoto") == 1
    extractions = extraction_requests(model)
    assert len(extractions) == 2  # each turn was read once
    [said] = CONVERSATION.findall(_user_text(extractions[1]))
    # Only turn 2, only the person's own words and the answer (no volatile context).
    assert said == (
        "user: which tea fits life in Kyoto? I drink sencha every morning\nassistant: Sencha, then."
    )
    [known] = KNOWN.findall(_user_text(extractions[1]))
    assert "- Alice lives in Kyoto" in known and "- Alice works as a potter" in known
    assert extractions[0].json["system"][0]["text"].startswith("You maintain a long-term memory")
    assert "tools" not in extractions[0].json
    # The second turn's request recalled what was extracted from the first.
    turn_two = next(r for r in model.chat_requests() if "which tea fits" in _user_text(r))
    assert any("Alice lives in Kyoto" in line for line in recalled(turn_two))


class LaterClock:
    """The real time plus an offset: conversations look idle without waiting for it."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@asynccontextmanager
async def chat_at(settings: Settings, clock: LaterClock) -> AsyncIterator[Chat]:
    lines, out = Lines(), io.StringIO()
    console = ConsoleChannel(lines, out, user="alice", interactive=False)
    async with open_runtime(settings, [console], clock=clock) as runtime:
        yield Chat(runtime, console, lines, out)
        lines.end()


async def test_a_quiet_conversation_is_read_and_a_model_failure_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(
            tmp_path,
            anthropic_provider(model),
            models={"retry": {"attempts": 1}},
            memory={"extraction": {"idle": "1h"}},  # every_turns stays 20: only quiet counts
            maintenance={"prune_interval": "50ms"},
        )
        clock = LaterClock(timedelta(0))
        model.script(Reply(Text("Hello Alice.")))
        model.script_for(MARKER, Reply(Text("- Alice keeps bees")))
        with caplog.at_level(logging.DEBUG, logger="bot.jobs"):
            async with chat_at(settings, clock) as chat:
                await chat.say("hello, I keep bees")
                passes = prune_passes(caplog)
                await wait_until(lambda: prune_passes(caplog) >= passes + 2)
                before_quiet = len(model.chat_requests())  # passes ran: nothing was due yet
                model.fail_next(Fault(500, {"type": "error", "error": {"type": "api_error"}}))
                clock.offset = timedelta(hours=2)  # an hour and more without a turn
                listing = await remembered(chat, "bees")

    assert before_quiet == 1
    assert "Alice keeps bees" in listing
    failed, read = model.chat_requests()[1:]
    assert MARKER in _user_text(failed) and MARKER in _user_text(read)
    assert "memory extraction stopped at session console:local:alice:" in caplog.text


def prune_passes(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.name == "bot.jobs" and "pruned:" in r.getMessage())

"""Reminders set by the model in a Telegram forum topic: delivered into that topic by the bot, kept
across restarts and delivered once, retried when the platform refuses the message."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.tools.context import ToolContext
from bot.reminders import ReminderService
from bot.store.reminders import ReminderRow, SqliteReminders
from bot.store.sqlite import SqliteStore
from bot.wiring import open_runtime, open_store
from channels.console import ConsoleChannel
from channels.telegram import TelegramChannel
from config import Settings
from config.tools import RemindersSettings
from tests.e2e.test_console_session import anthropic_provider
from tests.e2e.test_telegram import TIMINGS
from tests.e2e.test_tools import tool_results
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text, ToolCall
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram, SentMessage
from tests.harness import Lines, settings_for, wait_until

GROUP, TOPIC = -1009, 77


class OffsetClock:
    """The real time moved by ``offset``: a later run of the bot can live "an hour later"."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def reminder_settings(
    tmp_path: Path, model: FakeAnthropic, telegram: FakeTelegram, **reminders: Any
) -> Settings:
    section = {
        "token": telegram.token,
        "api_base_url": f"{telegram.url}/bot",
        "file_base_url": f"{telegram.url}/file/bot",
        **TIMINGS,
    }
    return settings_for(
        tmp_path,
        anthropic_provider(model),
        access={"dm": "open"},
        channels={"telegram": section},
        tools={"reminders": reminders},
    )


@contextlib.asynccontextmanager
async def bot(settings: Settings, clock: OffsetClock) -> AsyncIterator[TelegramChannel]:
    assert settings.channels.telegram is not None
    channel = TelegramChannel(settings.channels.telegram)
    async with open_runtime(settings, [channel], clock=clock):
        yield channel


def topic(telegram: FakeTelegram) -> list[SentMessage]:
    return telegram.bot_messages(GROUP, TOPIC)


def reminders_in(telegram: FakeTelegram) -> list[str]:
    return [m.text for m in telegram.messages if m.text.startswith("⏰ Reminder:")]


async def ask(telegram: FakeTelegram, text: str, replies: int) -> None:
    """Write in the topic and wait until the bot's ``replies``-th message there is final."""
    telegram.user_message(GROUP, f"@{BOT_USERNAME} {text}", chat_type="supergroup", thread_id=TOPIC)
    await wait_until(lambda: len([m for m in topic(telegram) if "⏱" in m.text]) >= replies)


async def rows(settings: Settings) -> list[ReminderRow]:
    async with open_store(settings) as store:
        async with store.db.execute("SELECT id FROM reminders ORDER BY id") as cursor:
            ids = [int(r[0]) for r in await cursor.fetchall()]
        found = [await SqliteReminders(store).get(i) for i in ids]
    return [r for r in found if r is not None]


async def test_a_reminder_fires_into_the_thread_it_was_set_in(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = reminder_settings(tmp_path, model, telegram)
        model.script(
            Reply(ToolCall("set_reminder", {"when": "in 2 seconds", "text": "stretch"})),
            Reply(Text("I will remind you.")),
        )
        async with bot(settings, OffsetClock()):
            await ask(telegram, "remind me in 2 seconds to stretch", replies=1)
            await wait_until(lambda: len(reminders_in(telegram)) == 1)
        stored = await rows(settings)

    texts = [m.text for m in topic(telegram)]
    assert texts[0].startswith("I will remind you.")
    assert texts[1:] == ["⏰ Reminder: stretch"]  # after the answer, in the same topic
    assert telegram.messages[-1].thread_id == TOPIC
    [(_, confirmation)] = tool_results(model, model.chat_requests()[1])
    assert confirmation.startswith("Reminder #1 set for ")
    [row] = stored
    assert (row.state, row.attempts, row.session_key.endswith(f":{GROUP}:{TOPIC}")) == (
        "fired",
        1,
        True,
    )


async def test_a_pending_reminder_survives_a_restart_and_fires_once(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = reminder_settings(tmp_path, model, telegram)
        model.script(
            Reply(
                ToolCall("set_reminder", {"when": "in 1 hour", "text": "water the plants"}),
                ToolCall("set_reminder", {"when": "in 2 hours", "text": "call mum"}),
            ),
            Reply(Text("Two reminders set.")),
            Reply(ToolCall("list_reminders", {})),
            Reply(ToolCall("cancel_reminder", {"reminder_id": 2})),
            Reply(Text("Cancelled the second one.")),
            Reply(Text("Hello again.")),
        )
        async with bot(settings, OffsetClock()):
            await ask(telegram, "remind me in 1 hour and in 2 hours", replies=1)
            await ask(telegram, "cancel the second", replies=2)
        before_restart = await rows(settings)

        # An hour later the bot starts again: the first reminder is due and fires once.
        async with bot(settings, OffsetClock(timedelta(hours=1, seconds=1))):
            await wait_until(lambda: len(reminders_in(telegram)) == 1)
        # And a later start does not send it again.
        async with bot(settings, OffsetClock(timedelta(hours=3))):
            await ask(telegram, "hello", replies=3)
        after = await rows(settings)

    assert [(r.text, r.state) for r in before_restart] == [
        ("water the plants", "pending"),
        ("call mum", "cancelled"),
    ]
    assert reminders_in(telegram) == ["⏰ Reminder: water the plants"]
    assert [(r.state, r.attempts) for r in after] == [("fired", 1), ("cancelled", 0)]
    listing = tool_results(model, model.chat_requests()[3])[0][1]
    assert listing.splitlines()[0].startswith("#1 at ")
    assert listing.splitlines()[1].endswith(": call mum")
    assert tool_results(model, model.chat_requests()[4])[0][1] == "Cancelled reminder #2."


async def set_for_later(settings: Settings, telegram: FakeTelegram, model: FakeAnthropic) -> None:
    model.script(
        Reply(ToolCall("set_reminder", {"when": "in 1 hour", "text": "standup"})),
        Reply(Text("Set.")),
    )
    async with bot(settings, OffsetClock()):
        await ask(telegram, "remind me of the standup in an hour", replies=1)


async def test_a_refused_delivery_is_retried_and_lands_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.reminders")
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = reminder_settings(tmp_path, model, telegram, retry_delays=["50ms"])
        await set_for_later(settings, telegram, model)
        telegram.fail("sendMessage", 400, "Bad Request: not enough rights to send text messages")
        async with bot(settings, OffsetClock(timedelta(hours=1, seconds=1))):
            await wait_until(lambda: len(reminders_in(telegram)) == 1)
        [row] = await rows(settings)

    assert reminders_in(telegram) == ["⏰ Reminder: standup"]
    assert (row.state, row.attempts) == ("fired", 2)
    assert f"reminder 1 not delivered (attempt 1), session {row.session_key}" in caplog.text


async def test_a_reminder_that_keeps_failing_is_given_up_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.reminders")
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = reminder_settings(tmp_path, model, telegram, retry_delays=["50ms"])
        await set_for_later(settings, telegram, model)
        telegram.fail("sendMessage", 400, "Bad Request: chat not found", times=5)
        async with bot(settings, OffsetClock(timedelta(hours=1, seconds=1))):
            await wait_until(lambda: "reminder 1 given up after 2 attempts" in caplog.text)
        [row] = await rows(settings)

    assert reminders_in(telegram) == []
    assert row.state == "failed"


async def test_two_runs_of_one_job_deliver_once_and_other_conversations_cannot_cancel(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    console = ConsoleChannel(Lines(), out, user="alice", interactive=False)
    clock = OffsetClock()
    alice = ToolContext(str(console.key), "s1", "console", "local", "alice", "alice")
    bob = ToolContext("console:local:bob:", "s2", "console", "local", "bob", "bob")
    async with SqliteStore(tmp_path / "hearth.db") as store:
        service = ReminderService(
            SqliteReminders(store), {"console": console}, clock, RemindersSettings()
        )
        first = await service.add(alice, clock.now() + timedelta(hours=1), "tea")
        second = await service.add(alice, clock.now() + timedelta(hours=2), "cake")
        assert not await service.cancel(bob, second.id)
        assert await service.pending(bob) == []
        assert [r.text for r in await service.pending(alice)] == ["tea", "cake"]
        # The scheduler was never started: fire the job by hand, twice at once.
        await asyncio.gather(service.fire(first.id), service.fire(first.id))
        assert [r.text for r in await service.pending(alice)] == ["cake"]

    assert out.getvalue() == "⏰ Reminder: tea\n\n"

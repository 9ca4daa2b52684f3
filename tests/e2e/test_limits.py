"""Abuse limits end to end on Telegram: over the message rate or a daily token budget, a person gets
one clear message and the model gets no request; commands stay usable over a budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.limits import rate_notice, user_budget_notice, workspace_budget_notice
from bot.wiring import open_store
from config import Settings
from tests.e2e.test_access_matrix import (
    ADMIN,
    ALLOWED,
    STRANGER,
    answered_times,
    answers,
    notices,
    said_to_model,
    telegram_access_settings,
)
from tests.e2e.test_telegram import running_bot
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.telegram import FakeTelegram
from tests.harness import WAIT_S, wait_until


async def turns_stored(settings: Settings, count: int) -> None:
    """Wait until ``count`` turns are in the store (a budget counts stored turns only)."""
    async with open_store(settings) as store, asyncio.timeout(WAIT_S):
        while len(await store.turns()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_over_the_message_rate_one_notice_then_silence_and_no_model_request(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(
            tmp_path,
            model,
            telegram,
            access={"dm": "open"},
            limits={"user_messages_per_minute": 2},
        )
        async with running_bot(settings):
            for count, text in enumerate(("one", "two"), start=1):
                telegram.user_message(ALLOWED, text)
                await wait_until(answered_times(telegram, ALLOWED, count))
            telegram.user_message(ALLOWED, "three")
            telegram.user_message(ALLOWED, "four")
            telegram.user_message(ADMIN, "someone else")  # a bucket of their own; a barrier
            await wait_until(lambda: len(answers(telegram, ADMIN)) == 1)

    [notice] = notices(telegram, ALLOWED)
    assert notice.startswith(rate_notice(2, 0).split("Please")[0])
    assert "Please wait" in notice
    assert len(answers(telegram, ALLOWED)) == 2
    assert said_to_model(model) == ["one", "two", "someone else"]


async def test_over_the_daily_user_budget_one_notice_and_commands_still_work(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(
            tmp_path,
            model,
            telegram,
            access={"dm": "open"},
            limits={"user_daily_tokens": 1, "user_messages_per_minute": 0},
        )
        async with running_bot(settings):
            telegram.user_message(ALLOWED, "one")
            await wait_until(lambda: len(answers(telegram, ALLOWED)) == 1)
            await turns_stored(settings, 1)
            telegram.user_message(ALLOWED, "two")
            telegram.user_message(ALLOWED, "three")
            telegram.user_message(ALLOWED, "/stats me")
            telegram.user_message(ADMIN, "another person")
            await wait_until(lambda: len(answers(telegram, ADMIN)) == 1)

    budget, stats = notices(telegram, ALLOWED)
    assert budget == user_budget_notice(1)
    assert stats.startswith("You: 1 turn · TTFT p50") and "today" in stats and "of 1" in stats
    assert said_to_model(model) == ["one", "another person"]


async def test_over_the_workspace_budget_everyone_is_told_once(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(
            tmp_path,
            model,
            telegram,
            access={"dm": "open"},
            limits={"workspace_daily_tokens": 1},
        )
        async with running_bot(settings):
            telegram.user_message(ALLOWED, "one")
            await wait_until(lambda: len(answers(telegram, ALLOWED)) == 1)
            await turns_stored(settings, 1)
            telegram.user_message(STRANGER, "hi")  # another user, same bot: same "workspace"
            telegram.user_message(ALLOWED, "two")
            telegram.user_message(ALLOWED, "three")
            telegram.user_message(STRANGER, "/help")  # commands pass; a barrier
            await wait_until(lambda: len(telegram.bot_messages(STRANGER)) == 2)

    assert notices(telegram, ALLOWED) == [workspace_budget_notice(1)]
    told, help_text = notices(telegram, STRANGER)
    assert told == workspace_budget_notice(1)
    assert help_text.startswith("Commands:")
    assert said_to_model(model) == ["one"]

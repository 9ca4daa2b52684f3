"""A burst of 429s from a platform across 20 concurrent threads: replies are delayed, none is lost
or duplicated. And a flooded thread is told so once, while other threads go on."""

from __future__ import annotations

import re
from pathlib import Path

from bot.runtime import FLOODED
from tests.e2e import discord_support, slack_support
from tests.e2e.test_telegram import running_bot, stored_turns, telegram_settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import TEXT_CHANNEL_ID, FakeDiscord
from tests.fakes.script import Reply, Text
from tests.fakes.slack import CHANNEL_ID, FakeSlack
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.harness import wait_until

THREADS = 20
TELEGRAM_FOOTER = r"\n\n⏱ \d+\.\d\d s to first token"
WAIT_S = 60.0


def script(model: FakeAnthropic) -> None:
    for n in range(THREADS):
        model.script_for(f"thread {n}:", Reply(Text(f"Answer {n}, all of it.", chunks=4)))


async def test_telegram_429_burst_across_20_group_chats(tmp_path: Path) -> None:
    groups = [-1005000 - n for n in range(THREADS)]
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        script(model)
        telegram.flood("sendMessage", retry_after=0.3, times=THREADS // 2)
        telegram.flood("editMessageText", retry_after=0.3, times=THREADS // 2)
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            for n, group in enumerate(groups):
                telegram.user_message(
                    group, f"@{BOT_USERNAME} thread {n}: go", chat_type="supergroup"
                )

            def all_final() -> bool:
                return all(
                    len(m := telegram.bot_messages(g)) == 1 and "⏱" in m[0].text for g in groups
                )

            await wait_until(all_final, WAIT_S)
        turns = await stored_turns(settings)

    for n, group in enumerate(groups):
        [message] = telegram.bot_messages(group)
        assert re.fullmatch(re.escape(f"Answer {n}, all of it.") + TELEGRAM_FOOTER, message.text)
    assert len(model.chat_requests()) == THREADS
    assert sorted(t.status for t in turns) == ["ok"] * THREADS
    refused = len(telegram.calls_of("sendMessage")) - THREADS
    assert refused >= THREADS // 2  # the burst was served, and the posts came again after it


async def test_slack_429_burst_across_20_threads(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        script(model)
        slack.rate_limit("chat.startStream", 1, times=THREADS // 2)
        slack.rate_limit("chat.stopStream", 1, times=THREADS // 4)
        settings = slack_support.settings_with(tmp_path, model, slack, rate_limit_retries=3)
        async with slack_support.running(settings):
            questions = [
                await slack.user_message(f"thread {n}: go", mention=True) for n in range(THREADS)
            ]
            await wait_until(
                lambda: all(slack_support.answered(slack, CHANNEL_ID, q.ts, 1) for q in questions),
                WAIT_S,
            )

    for n, question in enumerate(questions):
        [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
        assert reply.body == f"Answer {n}, all of it."
    assert len(model.chat_requests()) == THREADS
    assert len(slack.calls_of("chat.startStream")) == THREADS + THREADS // 2


async def test_discord_429_burst_across_20_threads(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        script(model)
        for _ in range(THREADS // 2):
            discord.rate_limit_next("POST", 0.2)
            discord.rate_limit_next("PATCH", 0.2)
        settings = discord_support.settings_with(tmp_path, model, discord)
        async with discord_support.running(settings):
            for n in range(THREADS):
                await discord.user_message(TEXT_CHANNEL_ID, f"thread {n}: go", mention_bot=True)
            await wait_until(
                lambda: (
                    len(discord.threads()) == THREADS
                    and all(discord_support.answered(t, 1) for t in discord.threads())
                ),
                WAIT_S,
            )

    answers = sorted(discord_support.FOOTER.sub("", t.bot_messages()[0].content)
                     for t in discord.threads())  # fmt: skip
    assert answers == sorted(f"Answer {n}, all of it." for n in range(THREADS))
    assert len(model.chat_requests()) == THREADS
    assert len(discord.rate_limited) == THREADS  # every 429 of the burst was served


async def test_a_flooded_thread_is_told_once_and_other_threads_go_on(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic(delta_interval=0.05) as model:
        model.script(*(Reply(Text(f"Reply {n}.", chunks=8)) for n in range(12)))
        settings = telegram_settings(tmp_path, model, telegram).model_copy(deep=True)
        sessions = settings.sessions.model_copy(update={"lane_queue": 2, "lane_mode": "queue"})
        settings = settings.model_copy(update={"sessions": sessions})
        async with running_bot(settings) as bot:
            for n in range(8):  # one runs, two wait, the rest are refused
                telegram.user_message(555, f"message {n}")
            telegram.user_message(777, "another chat")
            # Updates are taken in order: once the other chat is answered, all eight were.
            await wait_until(lambda: len(telegram.bot_messages(777)) == 1, WAIT_S)
            answered = 8 - bot.runtime.refused
            await wait_until(lambda: len(telegram.bot_messages(555)) == answered + 1, WAIT_S)

    texts = [m.text for m in telegram.bot_messages(555)]
    assert texts.count(FLOODED) == 1  # told once, not once per refused message
    assert answered in (2, 3)  # two wait behind the running one (or three, before it started)
    assert len([t for t in texts if t.startswith("Reply")]) == answered
    assert len(model.chat_requests()) == answered + 1

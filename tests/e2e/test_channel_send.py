"""Unprompted posts (reminders, alerts) and the connection state each channel reports."""

from __future__ import annotations

from pathlib import Path

from channels.base import SessionKey
from tests.e2e.discord_support import running, settings_with
from tests.e2e.test_telegram import replies, running_bot, telegram_settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import GUILD_ID, TEXT_CHANNEL_ID, FakeDiscord
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.harness import wait_until


async def test_telegram_send_posts_into_the_chat_and_forum_topic_of_a_key(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Hello.")), Reply(Text("Hi topic.")))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings) as bot:
            assert bot.channel.connected
            telegram.user_message(555, "hi")
            telegram.user_message(
                -1009, f"@{BOT_USERNAME} hi", chat_type="supergroup", thread_id=77
            )
            await replies(telegram, 555, 1)
            await wait_until(lambda: len(telegram.bot_messages(-1009, 77)) == 1)
            await bot.channel.send(SessionKey("telegram", "1", "555"), "Reminder: stretch & <b>")
            await bot.channel.send(SessionKey("telegram", "1", "-1009", "77"), "In the topic")
        assert not bot.channel.connected

    dm = telegram.bot_messages(555)[-1]
    assert dm.text == "Reminder: stretch & <b>"  # plain text, escaped on the wire
    topic = telegram.bot_messages(-1009, 77)[-1]
    assert (topic.text, topic.thread_id) == ("In the topic", 77)


async def test_discord_send_posts_into_the_channel_of_a_key(tmp_path: Path) -> None:
    async with FakeDiscord() as discord, FakeAnthropic() as model:
        settings = settings_with(tmp_path, model, discord)
        async with running(settings) as channel:
            assert channel.connected
            await channel.send(
                SessionKey("discord", GUILD_ID, TEXT_CHANNEL_ID), "Reminder: stretch"
            )
        assert not channel.connected

    (posted,) = discord.channel(TEXT_CHANNEL_ID).bot_messages()
    assert posted.content == "Reminder: stretch"

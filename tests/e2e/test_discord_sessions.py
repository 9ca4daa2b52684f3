"""Discord conversations end to end: the real discord.py client against the loopback fake.

DMs, a thread per @mention with follow-ups that need no mention, the no-permission fallback, bots
ignored, the intents asked for, and gateway reconnects that neither lose nor repeat a message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import pytest

from channels.base import ChannelError
from channels.discord import DiscordChannel
from tests.e2e.discord_support import FOOTER, answered, running, settings_with
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import DM_CHANNEL_ID, TEXT_CHANNEL_ID, FakeChannel, FakeDiscord
from tests.fakes.script import Reply, Text
from tests.harness import stored_turns, wait_until

GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15


def answers(channel: FakeChannel) -> list[str]:
    return [FOOTER.sub("", m.content) for m in channel.bot_messages()]


def assert_never_pings(discord: FakeDiscord) -> None:
    bodies = discord.all_bot_writes()
    assert bodies
    for body in bodies:
        mentions = body["allowed_mentions"]
        assert mentions["parse"] == [] and not mentions.get("replied_user")
        assert not mentions.get("users") and not mentions.get("roles")


async def test_a_dm_conversation_stays_warm_and_every_answer_carries_the_footer(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(
            Reply(Text("Hello! @everyone <@123>", delay=0.15)),  # slow: the typing shows first
            Reply(Text("Again.")),
            Reply(Text("Third.")),
        )
        settings = settings_with(tmp_path, model, discord)
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            for count, text in enumerate(["hi", "and again", "once more"], start=1):
                await discord.user_message(DM_CHANNEL_ID, text)
                await wait_until(functools.partial(answered, dm, count))
        turns = await stored_turns(settings)

    assert answers(dm) == ["Hello! @everyone <@123>", "Again.", "Third."]
    assert dm.typing >= 1
    assert [(t.ordinal, t.warm, t.status) for t in turns] == [
        (1, False, "ok"),
        (2, True, "ok"),
        (3, True, "ok"),
    ]
    assert len({t.session_id for t in turns}) == 1
    assert_never_pings(discord)  # the model's "@everyone" was sent, but cannot ping anyone


async def test_a_mention_opens_a_thread_and_follow_ups_there_need_no_mention(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(
            Reply(Text("A monad is a monoid.")), Reply(Text("In the category of endofunctors."))
        )
        settings = settings_with(tmp_path, model, discord, message_content=True)
        parent = discord.channel(TEXT_CHANNEL_ID)
        async with running(settings):
            await discord.user_message(TEXT_CHANNEL_ID, "just chatting, not for the bot")
            await discord.user_message(
                TEXT_CHANNEL_ID, "What is a monad?\nThanks!", mention_bot=True
            )
            await wait_until(lambda: bool(discord.threads()) and answered(discord.threads()[0], 1))
            thread = discord.threads()[0]
            await discord.user_message(thread.id, "in which category?")
            await wait_until(lambda: answered(thread, 2))
        turns = await stored_turns(settings)

    assert thread.name == "What is a monad?"
    assert thread.parent_id == TEXT_CHANNEL_ID
    assert answers(thread) == ["A monad is a monoid.", "In the category of endofunctors."]
    assert parent.bot_messages() == []  # the channel stays quiet: the conversation is in the thread
    assert len(model.chat_requests()) == 2  # the unmentioned channel message was not answered
    assert [(t.ordinal, t.warm) for t in turns] == [(1, False), (2, True)]
    assert len({t.session_id for t in turns}) == 1
    assert_never_pings(discord)


async def test_without_the_content_intent_only_mentions_are_read(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(Reply(Text("First.")), Reply(Text("Second.")))
        settings = settings_with(tmp_path, model, discord)
        async with running(settings):
            await discord.user_message(TEXT_CHANNEL_ID, "hello", mention_bot=True)
            await wait_until(lambda: bool(discord.threads()) and answered(discord.threads()[0], 1))
            thread = discord.threads()[0]
            await discord.user_message(thread.id, "unmentioned: Discord withholds this text")
            await discord.user_message(thread.id, "and now?", mention_bot=True)
            await wait_until(lambda: answered(thread, 2))

    assert discord.identifies[0]["intents"] == GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES
    last_prompt = model.chat_requests()[-1].json["messages"][-1]["content"][0]["text"]
    assert last_prompt.startswith("and now?")
    assert len(model.chat_requests()) == 2


async def test_without_thread_permission_it_answers_in_the_channel_as_a_reply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        discord.forbid_threads = True
        model.script(Reply(Text("Here.")), Reply(Text("Still here.")))
        settings = settings_with(tmp_path, model, discord)
        channel = discord.channel(TEXT_CHANNEL_ID)
        with caplog.at_level(logging.WARNING, logger="channels.discord"):
            async with running(settings):
                first = await discord.user_message(TEXT_CHANNEL_ID, "hi", mention_bot=True)
                await wait_until(lambda: answered(channel, 1))
                await discord.user_message(TEXT_CHANNEL_ID, "again", mention_bot=True)
                await wait_until(lambda: answered(channel, 2))
        turns = await stored_turns(settings)

    assert discord.threads() == []
    assert answers(channel) == ["Here.", "Still here."]
    reference = channel.bot_messages()[0].bodies[0]["message_reference"]
    assert str(reference["message_id"]) == first["id"]
    assert "no permission to create threads" in caplog.text
    assert [(t.ordinal, t.warm) for t in turns] == [(1, False), (2, True)]  # one channel session
    assert_never_pings(discord)


async def test_messages_from_bots_and_from_itself_are_never_answered(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(Reply(Text("Only for the human.")))
        settings = settings_with(tmp_path, model, discord)
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            await discord.user_message(
                TEXT_CHANNEL_ID, "hey bot", mention_bot=True, author_bot=True
            )
            await discord.user_message(DM_CHANNEL_ID, "beep", author_id="42", author_bot=True)
            await discord.user_message(DM_CHANNEL_ID, "hello")
            await wait_until(lambda: answered(dm, 1))
            # Our own answer came back through the gateway too; give it a full round to be ignored.
            model.script(Reply(Text("Bye.")))
            await discord.user_message(DM_CHANNEL_ID, "bye")
            await wait_until(lambda: answered(dm, 2))

    assert answers(dm) == ["Only for the human.", "Bye."]
    assert len(model.chat_requests()) == 2
    assert discord.threads() == []  # a bot's mention opens nothing


async def test_a_reconnect_mid_answer_resumes_and_neither_loses_nor_repeats_a_message(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        gate = asyncio.Event()
        model.script(Reply(Text("First answer.", gate=gate)), Reply(Text("Second answer.")))
        settings = settings_with(tmp_path, model, discord)
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            first = await discord.user_message(DM_CHANNEL_ID, "first")
            await wait_until(lambda: len(model.chat_requests()) == 1)
            discord.resume_gate = asyncio.Event()
            await discord.reconnect()
            await wait_until(lambda: len(discord.resumes) == 1)  # the client came back...
            await discord.user_message(DM_CHANNEL_ID, "second, sent while reconnecting")
            await discord.redeliver(first)  # ...and at-least-once delivery repeats the first
            assert not discord.connected
            discord.resume_gate.set()  # now the session resumes and replays what it missed
            await wait_until(lambda: discord.connected)
            gate.set()
            await wait_until(lambda: answered(dm, 2))

    assert answers(dm) == ["First answer.", "Second answer."]
    assert len(discord.identifies) == 1  # resumed the session, no fresh IDENTIFY
    assert len(model.chat_requests()) == 2
    assert model.chat_requests()[1].json["messages"][-1]["content"][0]["text"].startswith("second")


async def test_an_invalidated_session_identifies_again_and_keeps_answering(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(Reply(Text("Before.")), Reply(Text("After.")))
        settings = settings_with(tmp_path, model, discord)
        dm = discord.channel(DM_CHANNEL_ID)
        async with running(settings):
            await discord.user_message(DM_CHANNEL_ID, "one")
            await wait_until(lambda: answered(dm, 1))
            await discord.invalidate_session()
            await wait_until(lambda: len(discord.identifies) == 2 and discord.connected)
            await discord.user_message(DM_CHANNEL_ID, "two")
            await wait_until(lambda: answered(dm, 2))

    assert answers(dm) == ["Before.", "After."]


async def test_a_rejected_token_fails_start_with_a_clear_error(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        settings = settings_with(tmp_path, model, discord, token="wrong")
        assert settings.channels.discord is not None
        channel = DiscordChannel(settings.channels.discord)
        with pytest.raises(ChannelError, match="rejected the bot token"):
            await channel.start(_ignore)


async def test_a_refused_content_intent_fails_start_naming_the_portal_toggle(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        discord.content_intent_allowed = False
        settings = settings_with(tmp_path, model, discord, message_content=True)
        assert settings.channels.discord is not None
        channel = DiscordChannel(settings.channels.discord)
        with pytest.raises(ChannelError, match="Privileged Gateway Intents"):
            await channel.start(_ignore)

    assert discord.identifies[0]["intents"] & MESSAGE_CONTENT


async def _ignore(_: object) -> None:
    return None

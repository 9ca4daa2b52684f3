"""The access policy matrix over the real SDKs and the platform fakes (Telegram, Discord).

Allowed and denied users, chats and workspaces; the three DM policies; mention gating in groups,
with per-chat overrides. A denied person hears one polite message, then nothing; nobody denied or
ignored ever reaches the model.

Telegram hands updates to the pipeline one at a time, so once a later message is answered every
earlier one has been decided (and any notice sent): the last message of each scenario is such a
barrier.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.access import CHAT_NOT_ALLOWED, NOT_ALLOWED, WORKSPACE_NOT_ALLOWED
from bot.wiring import open_runtime
from channels.discord import DiscordChannel
from config import Settings
from tests.e2e.discord_support import answered
from tests.e2e.test_console_session import anthropic_provider
from tests.e2e.test_telegram import TIMINGS, running_bot
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import (
    DM_CHANNEL_ID,
    GUILD_ID,
    TEXT_CHANNEL_ID,
    USER_ID,
    FakeChannel,
    FakeDiscord,
)
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.harness import SteppingClock, settings_for, wait_until

FOOTER_MARK = "s to first token"
ADMIN = 900
ALLOWED = 501
STRANGER = 502


def telegram_access_settings(
    tmp_path: Path,
    model: FakeAnthropic,
    telegram: FakeTelegram,
    *,
    access: dict[str, Any] | None = None,
    telegram_access: dict[str, Any] | None = None,
    **extra: Any,
) -> Settings:
    """One bot on the Telegram fake with the given top-level ``access``, ``channels.telegram.access``
    and other sections."""
    section: dict[str, Any] = {
        "token": telegram.token,
        "api_base_url": f"{telegram.url}/bot",
        "file_base_url": f"{telegram.url}/file/bot",
        **TIMINGS,
    }
    if telegram_access is not None:
        section["access"] = telegram_access
    return settings_for(
        tmp_path,
        anthropic_provider(model),
        channels={"telegram": section},
        access=access or {},
        **extra,
    )


def answers(telegram: FakeTelegram, chat: int) -> list[str]:
    """The bot's model answers in ``chat`` (they carry the TTFT footer)."""
    return [m.text for m in telegram.bot_messages(chat) if FOOTER_MARK in m.text]


def answered_times(telegram: FakeTelegram, chat: int, count: int) -> Callable[[], bool]:
    """A condition: the bot has given ``count`` model answers in ``chat``."""
    return lambda: len(answers(telegram, chat)) == count


def notices(telegram: FakeTelegram, chat: int) -> list[str]:
    """The bot's other messages in ``chat`` (notices: denials, codes, limits)."""
    return [m.text for m in telegram.bot_messages(chat) if FOOTER_MARK not in m.text]


def said_to_model(model: FakeAnthropic) -> list[str]:
    """The person's own words of every model request (the first block of the last message)."""
    return [r.json["messages"][-1]["content"][0]["text"] for r in model.chat_requests()]


@pytest.mark.parametrize("policy", ["open", "allowlist", "pairing"])
async def test_telegram_dm_policies(tmp_path: Path, policy: str) -> None:
    access = {"dm": policy, "allow_users": [str(ALLOWED)], "admins": [f"telegram:{ADMIN}"]}
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, access=access)
        async with running_bot(settings):
            telegram.user_message(ALLOWED, "allowed says hi")
            telegram.user_message(STRANGER, "stranger says hi")
            telegram.user_message(STRANGER, "stranger insists")
            telegram.user_message(ADMIN, "admin says hi")
            await wait_until(lambda: len(answers(telegram, ADMIN)) == 1)
            expected = 2 if policy == "open" else 0
            await wait_until(lambda: len(answers(telegram, STRANGER)) == expected)
            await wait_until(lambda: len(answers(telegram, ALLOWED)) == 1)

    stranger_notices = notices(telegram, STRANGER)
    if policy == "open":
        assert stranger_notices == []
        assert sorted(said_to_model(model)) == sorted(
            ["allowed says hi", "stranger says hi", "stranger insists", "admin says hi"]
        )
        return
    # One polite message, then silence; the stranger never reached the model.
    assert len(stranger_notices) == 1
    if policy == "allowlist":
        assert stranger_notices == [NOT_ALLOWED]
    else:
        assert "code" in stranger_notices[0] and "hearth pair approve" in stranger_notices[0]
    assert sorted(said_to_model(model)) == ["admin says hi", "allowed says hi"]


async def test_telegram_groups_mention_gating_allowlists_and_per_chat_overrides(
    tmp_path: Path,
) -> None:
    mention = f"@{BOT_USERNAME}"
    member, outsider = 4242, 777
    gated, open_chat, silent, unlisted = -1001, -1002, -1003, -1004
    per_channel = {
        "allow_chats": [str(gated), str(open_chat), str(silent)],
        "allow_users": [str(member)],
        "chats": {str(open_chat): {"group": "open"}, str(silent): {"group": "off"}},
    }
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_access_settings(tmp_path, model, telegram, telegram_access=per_channel)

        def say(chat: int, text: str, user: int = member) -> None:
            telegram.user_message(chat, text, chat_type="supergroup", user_id=user)

        async with running_bot(settings):
            say(gated, "just chatting, not for the bot")
            say(gated, f"{mention} gated question")
            say(open_chat, "open chat needs no mention")
            say(silent, f"{mention} anyone here?")
            say(unlisted, f"{mention} hello from an unlisted chat")
            say(unlisted, f"{mention} hello again")
            say(gated, f"{mention} outsider asks", user=outsider)
            say(gated, f"{mention} outsider insists", user=outsider)
            say(gated, f"{mention} barrier")
            await wait_until(lambda: len(answers(telegram, gated)) == 2)
            await wait_until(lambda: len(answers(telegram, open_chat)) == 1)

    assert sorted(said_to_model(model)) == [
        "barrier",
        "gated question",
        "open chat needs no mention",
    ]
    assert telegram.bot_messages(silent) == []
    assert notices(telegram, unlisted) == [CHAT_NOT_ALLOWED]
    assert notices(telegram, gated) == [NOT_ALLOWED]  # to the outsider, once
    assert notices(telegram, open_chat) == []


def discord_settings(
    tmp_path: Path, model: FakeAnthropic, discord: FakeDiscord, discord_access: dict[str, Any]
) -> Settings:
    """The Discord fake with the given ``channels.discord.access``."""
    section = {**discord.channel_config(message_content=True), "access": discord_access}
    return settings_for(tmp_path, anthropic_provider(model), channels={"discord": section})


@contextlib.asynccontextmanager
async def running_discord(settings: Settings) -> AsyncIterator[None]:
    assert settings.channels.discord is not None
    channel = DiscordChannel(settings.channels.discord)
    async with open_runtime(settings, [channel], clock=SteppingClock()):
        yield


def contents(discord: FakeDiscord, channel_id: str) -> list[str]:
    return [m.content for m in discord.channel(channel_id).bot_messages()]


@pytest.mark.parametrize("policy", ["allowlist", "pairing"])
async def test_discord_dm_policies(tmp_path: Path, policy: str) -> None:
    stranger = "800000000000000077"
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        settings = discord_settings(
            tmp_path, model, discord, {"dm": policy, "allow_users": [USER_ID]}
        )
        dm = discord.channel(DM_CHANNEL_ID)
        async with running_discord(settings):
            await discord.user_message(DM_CHANNEL_ID, "stranger here", author_id=stranger)
            await wait_until(lambda: len(dm.bot_messages()) == 1)
            await discord.user_message(DM_CHANNEL_ID, "stranger again", author_id=stranger)
            await discord.user_message(DM_CHANNEL_ID, "listed user here")
            await wait_until(lambda: answered(dm, 2))

    first, answer = contents(discord, DM_CHANNEL_ID)
    if policy == "allowlist":
        assert first == NOT_ALLOWED
    else:
        assert "code" in first and "/pair" in first
    assert FOOTER_MARK in answer
    assert said_to_model(model) == ["listed user here"]


async def test_discord_guilds_workspace_and_user_allowlists(tmp_path: Path) -> None:
    outsider = "800000000000000078"
    access = {"allow_workspaces": [GUILD_ID], "allow_users": [USER_ID]}
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        settings = discord_settings(tmp_path, model, discord, access)
        async with running_discord(settings):
            await discord.user_message(TEXT_CHANNEL_ID, "not addressed to the bot")
            await discord.user_message(TEXT_CHANNEL_ID, "member asks", mention_bot=True)
            await wait_until(
                lambda: len(discord.threads()) == 1 and answered(discord.threads()[0], 1)
            )
            await discord.user_message(
                TEXT_CHANNEL_ID, "outsider asks", mention_bot=True, author_id=outsider
            )
            await wait_until(
                lambda: (
                    len(discord.threads()) == 2 and len(discord.threads()[1].bot_messages()) == 1
                )
            )

    member_thread, outsider_thread = discord.threads()
    assert FOOTER_MARK in member_thread.bot_messages()[0].content
    assert [m.content for m in outsider_thread.bot_messages()] == [NOT_ALLOWED]
    assert said_to_model(model) == ["member asks"]
    assert discord.channel(TEXT_CHANNEL_ID).bot_messages() == []


async def test_discord_a_guild_outside_the_allowlist_is_told_once(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        settings = discord_settings(
            tmp_path, model, discord, {"allow_workspaces": ["123"], "dm": "open"}
        )
        dm = discord.channel(DM_CHANNEL_ID)
        async with running_discord(settings):
            await discord.user_message(TEXT_CHANNEL_ID, "first ask", mention_bot=True)
            await wait_until(
                lambda: (
                    len(discord.threads()) == 1 and len(discord.threads()[0].bot_messages()) == 1
                )
            )
            await discord.user_message(TEXT_CHANNEL_ID, "second ask", mention_bot=True)
            await wait_until(lambda: len(discord.threads()) == 2)
            # DMs are governed by the DM policy, not the workspace list: this one is answered.
            await discord.user_message(DM_CHANNEL_ID, "a DM")
            await wait_until(lambda: answered(dm, 1))

    first, second = discord.threads()
    assert [m.content for m in first.bot_messages()] == [WORKSPACE_NOT_ALLOWED]
    assert second.bot_messages() == []
    assert said_to_model(model) == ["a DM"]


async def test_discord_allow_chats_covers_the_threads_opened_in_a_listed_channel(
    tmp_path: Path,
) -> None:
    other = "820000000000000002"
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        discord.channels[other] = FakeChannel(other, "text", GUILD_ID, name="random")
        settings = discord_settings(tmp_path, model, discord, {"allow_chats": [TEXT_CHANNEL_ID]})
        async with running_discord(settings):
            await discord.user_message(TEXT_CHANNEL_ID, "listed channel asks", mention_bot=True)
            await wait_until(
                lambda: len(discord.threads()) == 1 and answered(discord.threads()[0], 1)
            )
            thread = discord.threads()[0]
            await discord.user_message(thread.id, "follow-up in the thread")
            await wait_until(lambda: answered(thread, 2))
            await discord.user_message(other, "other channel asks", mention_bot=True)
            await wait_until(
                lambda: (
                    len(discord.threads()) == 2 and len(discord.threads()[1].bot_messages()) == 1
                )
            )

    assert said_to_model(model) == ["listed channel asks", "follow-up in the thread"]
    assert contents(discord, discord.threads()[1].id) == [CHAT_NOT_ALLOWED]

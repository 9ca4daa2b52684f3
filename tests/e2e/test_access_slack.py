"""The access policy matrix on Slack (slack-bolt over Socket Mode against the fake): the DM
policies, user, chat and workspace allowlists, mention gating with a per-chat override.

Slack sends a mention twice (``message`` and ``app_mention``); a denial is still said once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.access import CHAT_NOT_ALLOWED, NOT_ALLOWED, WORKSPACE_NOT_ALLOWED
from bot.wiring import open_runtime
from channels.slack import SlackChannel
from config import Settings
from tests.e2e.slack_support import finished
from tests.e2e.test_access_matrix import said_to_model
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import CHANNEL_ID, DM_CHANNEL_ID, USER_ID, FakeSlack, SlackMessage
from tests.harness import SteppingClock, settings_for, wait_until

STRANGER = "U0MALLORY"


def slack_settings(
    tmp_path: Path, model: FakeAnthropic, slack: FakeSlack, access: dict[str, Any]
) -> Settings:
    section = {**slack.channel_config(), "access": access}
    return settings_for(tmp_path, anthropic_provider(model), channels={"slack": section})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    assert settings.channels.slack is not None
    async with open_runtime(
        settings, [SlackChannel(settings.channels.slack)], clock=SteppingClock()
    ):
        yield


def bot_said(slack: FakeSlack, message: SlackMessage) -> list[SlackMessage]:
    """The bot's messages in the thread of ``message``."""
    return slack.bot_replies(message.channel, message.ts)


def is_answer(messages: list[SlackMessage]) -> bool:
    return len(messages) == 1 and finished(messages[0])


async def test_slack_dm_allowlist_and_one_notice_per_person_across_chats(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        settings = slack_settings(
            tmp_path, model, slack, {"dm": "allowlist", "allow_users": [USER_ID]}
        )
        async with running(settings):
            knock = await slack.user_message("let me in", channel=DM_CHANNEL_ID, user=STRANGER)
            await wait_until(lambda: len(bot_said(slack, knock)) == 1)
            again = await slack.user_message("please", channel=DM_CHANNEL_ID, user=STRANGER)
            mention = await slack.user_message("me too", mention=True, user=STRANGER)
            hello = await slack.user_message("hello", channel=DM_CHANNEL_ID)
            barrier = await slack.user_message("barrier", mention=True)
            await wait_until(lambda: is_answer(bot_said(slack, hello)))
            await wait_until(lambda: is_answer(bot_said(slack, barrier)))

    assert [m.text for m in bot_said(slack, knock)] == [NOT_ALLOWED]
    assert bot_said(slack, again) == [] and bot_said(slack, mention) == []
    assert sorted(said_to_model(model)) == ["barrier", "hello"]


CASES: list[tuple[str, dict[str, Any], bool, str | None]] = [
    # (case, access, unmentioned message answered, what a mention gets: None = answer, "" = nothing)
    ("mention gating", {}, False, None),
    ("open chat override", {"chats": {CHANNEL_ID: {"group": "open"}}}, True, None),
    ("groups off", {"group": "off"}, False, ""),
    ("workspace not listed", {"allow_workspaces": ["T0OTHER"]}, False, WORKSPACE_NOT_ALLOWED),
    ("chat not listed", {"allow_chats": ["C0OTHER"]}, False, CHAT_NOT_ALLOWED),
    ("user not listed", {"allow_users": ["U0SOMEONE"]}, False, NOT_ALLOWED),
]


@pytest.mark.parametrize(
    ("access", "unmentioned_answered", "mention_gets"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_slack_channels(
    tmp_path: Path, access: dict[str, Any], unmentioned_answered: bool, mention_gets: str | None
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        settings = slack_settings(tmp_path, model, slack, {"dm": "open", **access})
        async with running(settings):
            plain = await slack.user_message("just chatting")
            mention = await slack.user_message("a question", mention=True)
            if mention_gets is None:
                await wait_until(lambda: is_answer(bot_said(slack, mention)))
            elif mention_gets:
                await wait_until(lambda: len(bot_said(slack, mention)) == 1)
            if unmentioned_answered:
                await wait_until(lambda: is_answer(bot_said(slack, plain)))
            # DMs follow the DM policy (open here), whatever the channel rules say.
            direct = await slack.user_message("a DM", channel=DM_CHANNEL_ID)
            await wait_until(lambda: is_answer(bot_said(slack, direct)))

    expected_prompts = ["a DM"]
    if mention_gets is None:
        expected_prompts.append("a question")
    else:
        assert [m.text for m in bot_said(slack, mention)] == (
            [mention_gets] if mention_gets else []
        )
    if unmentioned_answered:
        expected_prompts.append("just chatting")
    else:
        assert bot_said(slack, plain) == []
    assert sorted(said_to_model(model)) == sorted(expected_prompts)

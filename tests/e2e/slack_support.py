"""What the Slack end-to-end tests share: settings, a running runtime, and "answered" checks."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.wiring import open_runtime
from channels.slack import SlackChannel
from config import Settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.harness import SteppingClock, settings_for

FOOTER = re.compile(r"⏱ \d+\.\d\d s to first token")


def settings_with(
    tmp_path: Path, model: FakeAnthropic, slack: FakeSlack, **options: Any
) -> Settings:
    """Anthropic fake as the model, the Slack fake as the only channel, DMs open."""
    provider = {"kind": "anthropic", "api_key": "sk-test", "base_url": model.url, "max_retries": 0}
    return settings_for(
        tmp_path,
        {"anthropic": provider},
        channels={"slack": slack.channel_config(**options)},
        access={"dm": "open"},
    )


@contextlib.asynccontextmanager
async def running(settings: Settings, **channel_options: Any) -> AsyncIterator[SlackChannel]:
    """The runtime with the real Slack channel, connected to the fake."""
    assert settings.channels.slack is not None
    channel = SlackChannel(settings.channels.slack, **channel_options)
    async with open_runtime(settings, [channel], clock=SteppingClock()):
        yield channel


def finished(message: SlackMessage) -> bool:
    """The message carries the TTFT footer in its context line (the answer is complete)."""
    return any(FOOTER.fullmatch(line) for line in message.context)


def answered(slack: FakeSlack, channel: str, thread_ts: str, count: int) -> bool:
    """``count`` answers in the thread, the last one finished."""
    replies = slack.bot_replies(channel, thread_ts)
    return (
        sum(1 for m in replies if finished(m)) == count and bool(replies) and finished(replies[-1])
    )


def answer_text(message: SlackMessage) -> str:
    """What the user reads as the answer (the body without the footer line)."""
    return message.body

"""What the Discord end-to-end tests share: settings, a running runtime, and "answered" checks."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.wiring import open_runtime
from channels.discord import DiscordChannel
from config import Settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import FakeChannel, FakeDiscord
from tests.harness import SteppingClock, settings_for

FOOTER = re.compile(r"\n-# ⏱ \d+\.\d\d s to first token$")


def settings_with(
    tmp_path: Path, model: FakeAnthropic, discord: FakeDiscord, **options: Any
) -> Settings:
    """Anthropic fake as the model, the Discord fake as the only channel, DMs open."""
    provider = {"kind": "anthropic", "api_key": "sk-test", "base_url": model.url, "max_retries": 0}
    return settings_for(
        tmp_path,
        {"anthropic": provider},
        channels={"discord": discord.channel_config(**options)},
        access={"dm": "open"},
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[DiscordChannel]:
    """The runtime with the real Discord channel, connected to the fake."""
    assert settings.channels.discord is not None
    channel = DiscordChannel(settings.channels.discord)
    async with open_runtime(settings, [channel], clock=SteppingClock()):
        yield channel


def answered(channel: FakeChannel, count: int) -> bool:
    """``count`` bot messages, the last one finished (it carries the footer)."""
    messages = channel.bot_messages()
    return len(messages) == count and FOOTER.search(messages[-1].content) is not None

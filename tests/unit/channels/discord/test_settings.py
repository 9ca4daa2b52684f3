"""The ``channels.discord`` section: defaults and the keys that must be positive."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import ConfigError
from config.settings import parse_settings


def test_defaults_follow_discord_practice() -> None:
    discord = parse_settings({"channels": {"discord": {"token": "t"}}}).channels.discord

    assert discord is not None
    assert discord.message_content is False  # the privileged intent is opt-in
    assert discord.edit_interval == timedelta(seconds=1)  # about 1 edit per second per message
    assert discord.thread_auto_archive == 1440


@pytest.mark.parametrize("key", ["typing_interval", "connect_timeout"])
def test_zero_intervals_are_refused_naming_the_key(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"channels\.discord\.{key}: must be longer than 0s"):
        parse_settings({"channels": {"discord": {"token": "t", key: "0s"}}})


def test_thread_archive_must_be_a_duration_discord_offers() -> None:
    with pytest.raises(ConfigError, match=r"channels\.discord\.thread_auto_archive"):
        parse_settings({"channels": {"discord": {"token": "t", "thread_auto_archive": 30}}})

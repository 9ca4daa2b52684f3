"""The ``channels.slack`` section: defaults, mode requirements and the keys that must be positive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from config import ConfigError
from config.settings import parse_settings

SOCKET = {"bot_token": "xoxb-1", "app_token": "xapp-1"}


def slack(**section: Any) -> Any:
    return parse_settings({"channels": {"slack": section}}).channels.slack


def test_defaults_are_socket_mode_native_streaming_and_follow_ups() -> None:
    settings = slack(**SOCKET)

    assert (settings.mode, settings.streaming, settings.thread_followups) == (
        "socket", "native", True)  # fmt: skip
    assert settings.api_base_url == "https://slack.com/api/"
    assert settings.events_path == "/slack/events"
    assert settings.stream_rotation == timedelta(minutes=4)  # before Slack's ~5 minutes
    assert settings.edit_interval == timedelta(seconds=1)
    assert settings.workspace_edits_per_minute == 50  # chat.update is Tier 3


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"bot_token": "xoxb-1"}, r"channels\.slack\.app_token: is required when mode is \"socket\""),
        ({"bot_token": "xoxb-1", "mode": "http"},
         r"channels\.slack\.signing_secret: is required when mode is \"http\""),
        ({**SOCKET, "streaming": "fast"}, r"channels\.slack\.streaming: must be one of native, edit"),
        ({**SOCKET, "events_path": "slack"}, r"channels\.slack\.events_path: must start with"),
        ({**SOCKET, "stream_rotation": "0s"}, r"channels\.slack\.stream_rotation: must be longer"),
        ({**SOCKET, "connect_timeout": "0s"}, r"channels\.slack\.connect_timeout: must be longer"),
        ({**SOCKET, "workspace_edits_per_minute": 0},
         r"channels\.slack\.workspace_edits_per_minute: must be at least 1"),
        ({**SOCKET, "rate_limit_retries": 11},
         r"channels\.slack\.rate_limit_retries: must be between 0 and 10"),
        ({**SOCKET, "api_base_url": "slack.com"}, r"channels\.slack\.api_base_url: must be a URL"),
    ],
)  # fmt: skip
def test_invalid_sections_fail_naming_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        slack(**section)

"""Bad tool configuration stops Hearth at start with the key and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config import ConfigError
from config.settings import parse_settings
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.harness import console_chat, settings_for


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ({"mcp": {"a__b": {"command": ["x"]}}}, "tools.mcp.a__b: server names are 1-32 letters"),
        ({"mcp": {"x.y": {"command": ["x"]}}}, "tools.mcp.x.y: server names are"),
        ({"mcp": {"docs": {}}}, "tools.mcp.docs.command: give either command (stdio) or url"),
        (
            {"mcp": {"docs": {"command": ["x"], "url": "http://h/mcp"}}},
            "tools.mcp.docs.command: give either command",
        ),
        ({"mcp": {"docs": {"command": []}}}, "tools.mcp.docs.command: must not be empty"),
        ({"mcp": {"docs": {"url": "ftp://h/mcp"}}}, "tools.mcp.docs.url: must be a URL starting"),
        (
            {"mcp": {"docs": {"url": "http://h/mcp", "env": {"A": "b"}}}},
            "tools.mcp.docs.env: only used with command",
        ),
        ({"mcp": {"docs": {"command": ["x"], "port": 1}}}, "tools.mcp.docs.port: unknown key"),
        (
            {"web_fetch": {"allow_hosts": ["ok.example", "http://bad/"]}},
            "tools.web_fetch.allow_hosts[1]: must be a host name",
        ),
        ({"web_fetch": {"timeout": "0s"}}, "tools.web_fetch.timeout: must be longer than 0s"),
        ({"web_fetch": {"max_redirects": 50}}, "tools.web_fetch.max_redirects: must be at most 20"),
        (
            {"reminders": {"retry_delays": ["1m", "0s"]}},
            "tools.reminders.retry_delays[1]: must be longer than 0s",
        ),
        ({"reminders": {"max_pending": 0}}, "tools.reminders.max_pending: must be at least 1"),
    ],
)
def test_invalid_tool_settings_name_the_key(tools: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"tools": tools})
    assert str(caught.value).startswith(message)


def test_valid_tool_settings() -> None:
    settings = parse_settings(
        {
            "tools": {
                "mcp": {
                    "docs": {"command": ["docs-server", "--stdio"], "env": {"TOKEN": "t"}},
                    "tickets-2": {"url": "https://tickets.example/mcp", "headers": {"A": "b"}},
                },
                "web_fetch": {"allow_hosts": ["wiki.internal", "*.corp.example", "10.0.0.0/8"]},
            }
        }
    )
    assert settings.tools.mcp["docs"].env["TOKEN"].get_secret_value() == "t"
    assert settings.agent.profiles["default"].tools == ["time", "memory", "reminders", "web"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"agent": {"profiles": {"default": {"tools": ["time", "memroy"]}}}},
            'agent.profiles.default.tools[1]: unknown tool "memroy"',
        ),
        (
            {"agent": {"profiles": {"default": {"tools": ["nowhere.*"]}}}},
            'agent.profiles.default.tools[0]: unknown tool "nowhere.*"',
        ),
        (
            {"tools": {"mcp": {"memory": {"command": ["x"]}}}},
            "tools.mcp.memory: is the name of a built-in tool or group",
        ),
    ],
)
async def test_allowlists_and_server_names_are_checked_at_start(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model), **extra)
        with pytest.raises(ConfigError) as caught:
            async with console_chat(settings):
                pass
    assert str(caught.value).startswith(message)

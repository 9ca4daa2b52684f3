"""Running without a config file: settings derived from environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings, missing_model_help

_ANTHROPIC = {"ANTHROPIC_API_KEY": "sk-ant"}
_OPENAI = {"OPENAI_API_KEY": "sk-oai"}
_BOTH = _ANTHROPIC | _OPENAI


def _tiers(env: dict[str, str]) -> dict[str, list[str]]:
    return load_settings(None, env).models.tiers


@pytest.mark.parametrize(
    ("env", "default", "fast"),
    [
        (_ANTHROPIC, ["anthropic:claude-sonnet-4-5"], ["anthropic:claude-haiku-4-5"]),
        (_OPENAI, ["openai:gpt-5"], ["openai:gpt-5-mini"]),
        (
            _BOTH,
            ["anthropic:claude-sonnet-4-5", "openai:gpt-5"],
            ["anthropic:claude-haiku-4-5", "openai:gpt-5-mini"],
        ),
        (
            _BOTH | {"HEARTH_MODEL": "claude-opus-4-1"},
            ["anthropic:claude-opus-4-1", "openai:gpt-5"],
            ["anthropic:claude-haiku-4-5", "openai:gpt-5-mini"],
        ),
        (
            _BOTH | {"HEARTH_MODEL": "openai:gpt-5.1"},
            ["openai:gpt-5.1"],
            ["anthropic:claude-haiku-4-5", "openai:gpt-5-mini"],
        ),
        # Ollama: the chosen model serves both tiers behind a custom base URL, and its tag's
        # colon does not make it "provider:model".
        (
            {
                "OPENAI_BASE_URL": "http://localhost:11434/v1",
                "OPENAI_API_KEY": "ollama",
                "HEARTH_MODEL": "llama3.2:3b",
            },
            ["openai:llama3.2:3b"],
            ["openai:llama3.2:3b"],
        ),
    ],
)
def test_tiers_from_provider_keys(env: dict[str, str], default: list[str], fast: list[str]) -> None:
    assert _tiers(env) == {"default": default, "fast": fast}


def test_providers_take_keys_from_env_and_leave_base_url_to_the_sdk() -> None:
    settings = load_settings(None, _BOTH | {"OPENAI_BASE_URL": "http://localhost:11434/v1"})
    assert list(settings.models.providers) == ["anthropic", "openai"]
    keys = {}
    for name, provider in settings.models.providers.items():
        assert (provider.kind, provider.base_url) == (name, None)
        assert provider.api_key is not None
        keys[name] = provider.api_key.get_secret_value()
    assert keys == {"anthropic": "sk-ant", "openai": "sk-oai"}
    assert [str(ref) for ref in settings.models.chain("default")] == [
        "anthropic:claude-sonnet-4-5",
        "openai:gpt-5",
    ]
    assert missing_model_help(settings) is None


@pytest.mark.parametrize("env", [{}, {"ANTHROPIC_API_KEY": ""}, {"TELEGRAM_BOT_TOKEN": "1:a"}])
def test_no_provider_key_is_valid_but_reports_missing_model(env: dict[str, str]) -> None:
    settings = load_settings(None, env)
    assert settings.models.providers == {}
    assert settings.models.tiers == {}
    assert missing_model_help(settings) == (
        "no model configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY "
        "(optionally ANTHROPIC_BASE_URL / OPENAI_BASE_URL), "
        "or models.providers and models.tiers in hearth.yaml"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HEARTH_MODEL": "llama3.2"},
            "HEARTH_MODEL: needs ANTHROPIC_API_KEY or OPENAI_API_KEY to be set as well",
        ),
        (
            _ANTHROPIC | {"HEARTH_MODEL": "openai:gpt-5"},
            'HEARTH_MODEL: provider "openai" needs OPENAI_API_KEY to be set',
        ),
        (
            _ANTHROPIC | {"HEARTH_MODEL": "anthropic:"},
            'HEARTH_MODEL: must be "provider:model" or a model name',
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1"},
            "SLACK_APP_TOKEN: is not set; Slack Socket Mode needs it alongside SLACK_BOT_TOKEN "
            "(or set SLACK_SIGNING_SECRET for HTTP mode)",
        ),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN: is not set; the Slack channel needs it"),
    ],
)
def test_inconsistent_env_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env)
    assert str(caught.value) == message


def test_channels_and_data_dir_from_env() -> None:
    env = {
        "HEARTH_DATA_DIR": "/srv/hearth",
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        "DISCORD_BOT_TOKEN": "dsc",
    }
    settings = load_settings(None, env)
    channels = settings.channels
    assert settings.data_dir == Path("/srv/hearth")
    assert channels.telegram is not None and channels.telegram.mode == "polling"
    assert channels.telegram.token.get_secret_value() == "123:abc"
    assert channels.slack is not None and channels.slack.mode == "socket"
    assert channels.slack.app_token is not None
    assert channels.slack.app_token.get_secret_value() == "xapp-1"
    assert channels.discord is not None
    assert channels.discord.token.get_secret_value() == "dsc"


def test_slack_http_mode_from_signing_secret() -> None:
    slack = load_settings(
        None, {"SLACK_BOT_TOKEN": "b", "SLACK_SIGNING_SECRET": "s"}
    ).channels.slack
    assert slack is not None
    assert (slack.mode, slack.app_token) == ("http", None)


def test_no_channel_env_means_no_channels() -> None:
    channels = load_settings(None, _ANTHROPIC).channels
    assert (channels.telegram, channels.slack, channels.discord) == (None, None, None)

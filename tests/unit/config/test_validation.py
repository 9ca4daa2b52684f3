"""Invalid config files fail with one line naming the key and the reason."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings
from tests.unit.config.conftest import WriteConfig

_PROVIDERS = """\
models:
  providers:
    anthropic: {kind: anthropic, api_key: k1}
    openai: {kind: openai, api_key: k2}
  tiers:
    default: ["anthropic:claude-sonnet-4-5", "openai:gpt-5"]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sesions: {}", "sesions: unknown key"),
        ("sessions: {idle_ttl: 1h, warm: 3}", "sessions.warm: unknown key"),
        ("channels: {telegram: {token: t, mod: polling}}", "channels.telegram.mod: unknown key"),
        ("reply: {footer: loud}", "reply.footer: must be one of off, ttft, full"),
        (
            "sessions: {lane_mode: drop}",
            "sessions.lane_mode: must be one of queue, collect, interrupt",
        ),
        ("access: {dm: everyone}", "access.dm: must be one of open, allowlist, pairing"),
        ("models: {cache_ttl: 10m}", "models.cache_ttl: must be one of 5m, 1h"),
        ("sessions: {idle_ttl: soon}", 'sessions.idle_ttl: must be a duration like "30m"'),
        ("agent: {tool_timeout: -1}", 'agent.tool_timeout: must be a duration like "30m"'),
        ("sessions: {max_warm: 0}", "sessions.max_warm: must be greater than 0"),
        ("sessions: {max_warm: lots}", "sessions.max_warm: must be an integer"),
        ("limits: {user_daily_tokens: -1}", "limits.user_daily_tokens: must be at least 0"),
        ("server: {port: 70000}", "server.port: must be at most 65535"),
        ("channels: {telegram: {}}", "channels.telegram.token: is required"),
        ("channels: {telegram: {token: ''}}", "channels.telegram.token: must not be empty"),
        ("channels: {telegram: yes-please}", "channels.telegram: must be a mapping"),
        ("access: {allow_users: U1}", "access.allow_users: must be a list"),
        (
            "channels: {slack: {bot_token: b}}",
            'channels.slack.app_token: is required when mode is "socket"',
        ),
        (
            "channels: {slack: {bot_token: b, mode: http}}",
            'channels.slack.signing_secret: is required when mode is "http"',
        ),
        (
            "channels: {discord: {token: t, gateway_url: 'https://gateway.discord.gg/'}}",
            "channels.discord.gateway_url: must be a URL starting with ws:// or wss://",
        ),
        (
            "models: {providers: {local: {kind: llama}}}",
            "models.providers.local.kind: must be one of anthropic, openai",
        ),
        (
            "models: {providers: {local: {kind: openai, base_url: 'localhost:11434'}}}",
            "models.providers.local.base_url: must be a URL starting with http:// or https://",
        ),
        (
            _PROVIDERS + '    fast: ["anthropic:claude-haiku-4-5", "foo:bar"]\n',
            'models.tiers.fast[1]: unknown provider "foo" (configured: anthropic, openai)',
        ),
        (
            "models: {tiers: {default: ['foo:bar']}}",
            'models.tiers.default[0]: unknown provider "foo" (configured: none)',
        ),
        (_PROVIDERS + "    fast: [claude]\n", 'models.tiers.fast[0]: must be "provider:model"'),
        (
            _PROVIDERS + "    fast: ['anthropic:']\n",
            'models.tiers.fast[0]: must be "provider:model"',
        ),
        (_PROVIDERS + "    fast: []\n", "models.tiers.fast: must not be empty"),
        (
            _PROVIDERS + "agent: {profiles: {default: {tier: huge}}}",
            'agent.profiles.default.tier: unknown tier "huge" (configured: default)',
        ),
        ("agent: {profiles: {helper: {}}}", 'agent.profiles: a "default" profile is required'),
        (
            "agent: {routes: [{match: {platform: slack}, profile: default}, "
            "{match: {user: U1}, profile: support}]}",
            'agent.routes[1].profile: unknown profile "support" (configured: default)',
        ),
        (
            "agent: {routes: [{match: {platform: slack}}]}",
            "agent.routes[0].profile: is required",
        ),
        (
            "reply: {footer: loud}\nsessions: {lane_mode: drop, max_warm: 0}",
            "sessions.max_warm: must be greater than 0 (and 2 more)",
        ),
    ],
)
def test_invalid_config_names_key_and_reason(
    write_config: WriteConfig, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(text), {})
    assert str(caught.value) == message
    assert caught.value.key == message.split(": ", 1)[0]
    assert "\n" not in str(caught.value)


def test_profile_tiers_are_not_checked_without_any_tiers(write_config: WriteConfig) -> None:
    settings = load_settings(write_config("agent: {profiles: {default: {tier: huge}}}"), {})
    assert settings.agent.profiles["default"].tier == "huge"


@pytest.mark.parametrize("word", ["off", "on", "yes", "no"])
def test_yaml_words_that_yaml_1_1_reads_as_booleans_stay_strings(
    write_config: WriteConfig, word: str
) -> None:
    settings = load_settings(
        write_config(f"agent: {{profiles: {{default: {{tier: {word}}}}}}}"), {}
    )
    assert settings.agent.profiles["default"].tier == word


def test_footer_off_and_group_off_load_unquoted(write_config: WriteConfig) -> None:
    settings = load_settings(write_config("reply: {footer: off}\naccess: {group: off}"), {})
    assert (settings.reply.footer, settings.access.group) == ("off", "off")


def test_numeric_ids_become_strings(write_config: WriteConfig) -> None:
    text = """\
access:
  allow_users: [123456, U0123]
  allow_chats: [-1001234567890]
agent:
  routes: [{match: {platform: telegram, chat: -100123}, profile: default}]
"""
    settings = load_settings(write_config(text), {})
    assert settings.access.allow_users == ["123456", "U0123"]
    assert settings.access.allow_chats == ["-1001234567890"]
    assert settings.agent.routes[0].match.chat == "-100123"

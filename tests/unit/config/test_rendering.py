"""`render_masked`: what `hearth check` prints."""

from __future__ import annotations

from pathlib import Path

import yaml

from config import Settings, load_settings, render_masked
from tests.unit.config.conftest import WriteConfig

_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-SECRET-1",
    "OPENAI_API_KEY": "sk-oai-SECRET-2",
    "TELEGRAM_BOT_TOKEN": "123:SECRET-3",
    "SLACK_BOT_TOKEN": "xoxb-SECRET-4",
    "SLACK_APP_TOKEN": "xapp-SECRET-5",
    "DISCORD_BOT_TOKEN": "SECRET-6",
}

_FULL = """\
data_dir: /var/lib/hearth
models:
  providers:
    anthropic: {kind: anthropic, api_key: "${ANTHROPIC_API_KEY}", timeout: 90s}
    openai: {kind: openai, api_key: "${OPENAI_API_KEY}"}
    local: {kind: openai, base_url: "http://localhost:11434/v1", api_key: ollama}
  tiers:
    fast: ["anthropic:claude-haiku-4-5", "openai:gpt-5-mini"]
    default: ["anthropic:claude-sonnet-4-5", "openai:gpt-5", "local:llama3.2:3b"]
  cache_ttl: 1h
agent:
  profiles:
    default: {instructions: "You are Hearth.", tier: default, tools: [time, memory]}
    quick: {tier: fast}
  routes:
    - {match: {platform: slack, workspace: T0123}, profile: quick}
  tool_timeout: 250ms
sessions: {idle_ttl: 30m, retention: 90d, lane_mode: interrupt}
reply: {footer: off}
channels:
  telegram: {token: "${TELEGRAM_BOT_TOKEN}", access: {dm: open, allow_users: [123456]}}
  slack: {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}"}
  discord: {token: "${DISCORD_BOT_TOKEN}", message_content: true}
access: {admins: ["telegram:123456"]}
limits: {user_messages_per_minute: 5}
"""


def _load_full(write_config: WriteConfig) -> Settings:
    return load_settings(write_config(_FULL), _SECRETS)


def test_no_secret_appears_and_every_secret_is_masked(write_config: WriteConfig) -> None:
    rendered = render_masked(_load_full(write_config))
    for secret in [*_SECRETS.values(), "ollama"]:
        assert secret not in rendered
    data = yaml.safe_load(rendered)
    assert data["models"]["providers"]["anthropic"]["api_key"] == "********"
    assert data["models"]["providers"]["local"]["api_key"] == "********"
    assert data["channels"]["slack"]["app_token"] == "********"
    assert data["channels"]["slack"]["signing_secret"] is None


def test_durations_render_as_short_strings(write_config: WriteConfig) -> None:
    data = yaml.safe_load(render_masked(_load_full(write_config)))
    assert data["sessions"]["idle_ttl"] == "30m"
    assert data["sessions"]["retention"] == "90d"
    assert data["agent"]["tool_timeout"] == "250ms"
    assert data["models"]["providers"]["anthropic"]["timeout"] == "90s"


def test_rendered_config_loads_back_to_the_same_settings_apart_from_secrets(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    original = _load_full(write_config)
    rendered = render_masked(original)
    copy = tmp_path / "rendered.yaml"
    copy.write_text(rendered, encoding="utf-8")

    reloaded = load_settings(copy, {})

    assert render_masked(reloaded) == rendered
    for section in ("data_dir", "agent", "sessions", "reply", "server", "access", "limits"):
        assert getattr(reloaded, section) == getattr(original, section), section
    assert reloaded.models.tiers == original.models.tiers
    assert reloaded.models.cache_ttl == original.models.cache_ttl
    assert _without_secrets(reloaded) == _without_secrets(original)


def _without_secrets(settings: Settings) -> dict[str, object]:
    channels = settings.channels
    secret_free: dict[str, object] = {
        name: provider.model_dump(exclude={"api_key"})
        for name, provider in settings.models.providers.items()
    }
    secret_free["telegram"] = channels.telegram and channels.telegram.model_dump(exclude={"token"})
    secret_free["slack"] = channels.slack and channels.slack.model_dump(
        exclude={"bot_token", "app_token", "signing_secret"}
    )
    secret_free["discord"] = channels.discord and channels.discord.model_dump(exclude={"token"})
    return secret_free


def test_defaults_render_and_reload(tmp_path: Path) -> None:
    copy = tmp_path / "defaults.yaml"
    copy.write_text(render_masked(Settings()), encoding="utf-8")
    assert load_settings(copy, {}) == Settings()

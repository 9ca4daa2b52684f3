"""Reading hearth.yaml: files, YAML errors, ${VAR} interpolation, file: secrets, path lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, Settings, find_config_path, load_settings
from tests.unit.config.conftest import WriteConfig

_SECRET = "sk-ant-THE-REAL-KEY"


def _anthropic_key(text_for_api_key: str) -> str:
    return f"models: {{providers: {{anthropic: {{kind: anthropic, api_key: {text_for_api_key}}}}}}}"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value) == f"{path}: file not found"
    assert caught.value.key == str(path)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_gives_defaults(write_config: WriteConfig, text: str) -> None:
    assert load_settings(write_config(text), {}) == Settings()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("- models\n- agent\n", "top level must be a mapping of sections, not a list"),
        ("just words\n", "top level must be a mapping of sections, not a string"),
        (
            "reply:\n  footer: ttft\n  bad: [1, 2\n",
            "line 4, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "server:\n  host: x\n   port: 1\n",
            "line 3, column 8: invalid YAML: mapping values are not allowed here",
        ),
        (
            "reply: {footer: ttft}\nsessions: {}\nreply: {footer: off}\n",
            'line 3, column 1: invalid YAML: duplicate key "reply"',
        ),
    ],
)
def test_file_level_problems_name_the_file(
    write_config: WriteConfig, text: str, reason: str
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(caught.value) == f"{path}: {reason}"


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ('"${ANTHROPIC_API_KEY}"', {"ANTHROPIC_API_KEY": _SECRET}, _SECRET),
        ('"${KEY:-fallback}"', {}, "fallback"),
        ('"${KEY:-fallback}"', {"KEY": ""}, "fallback"),
        ('"${KEY:-fallback}"', {"KEY": "set"}, "set"),
        ('"sk-${PART1}-${PART2}"', {"PART1": "a", "PART2": "b"}, "sk-a-b"),
        ('"$${NOT_A_REFERENCE}"', {}, "${NOT_A_REFERENCE}"),
        ('"plain$text"', {}, "plain$text"),
    ],
)
def test_env_references_in_strings_are_replaced(
    write_config: WriteConfig, value: str, env: dict[str, str], expected: str
) -> None:
    settings = load_settings(write_config(_anthropic_key(value)), env)
    api_key = settings.models.providers["anthropic"].api_key
    assert api_key is not None
    assert api_key.get_secret_value() == expected


def test_env_references_reach_nested_lists_and_non_secret_fields(
    write_config: WriteConfig,
) -> None:
    text = """\
data_dir: "${STATE:-/var/lib/hearth}"
sessions: {idle_ttl: "${TTL}"}
access: {allow_users: ["${OWNER}", 42]}
"""
    settings = load_settings(write_config(text), {"TTL": "15m", "OWNER": "U0123"})
    assert settings.data_dir == Path("/var/lib/hearth")
    assert settings.sessions.idle_ttl.total_seconds() == 900
    assert settings.access.allow_users == ["U0123", "42"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _anthropic_key('"${ANTHROPIC_API_KEY}"'),
            "models.providers.anthropic.api_key: environment variable ANTHROPIC_API_KEY is not set",
        ),
        (
            "access: {allow_users: [U1, '${OWNER}']}",
            "access.allow_users[1]: environment variable OWNER is not set",
        ),
        (
            "server: {host: '${1HOST}'}",
            'server.host: invalid reference "${1HOST}": expected ${VAR} or ${VAR:-default}',
        ),
    ],
)
def test_bad_env_reference_names_the_key(
    write_config: WriteConfig, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(text), {})
    assert str(caught.value) == message


def test_secret_from_file_is_read_and_stripped(write_config: WriteConfig, tmp_path: Path) -> None:
    secret_file = tmp_path / "anthropic_key"
    secret_file.write_text(f"  {_SECRET}\n", encoding="utf-8")
    settings = load_settings(write_config(_anthropic_key(f"'file:{secret_file}'")), {})
    api_key = settings.models.providers["anthropic"].api_key
    assert api_key is not None
    assert api_key.get_secret_value() == _SECRET


def test_secret_file_path_may_come_from_env(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("123:abc\n", encoding="utf-8")
    text = "channels: {telegram: {token: 'file:${SECRETS}/token'}}"
    settings = load_settings(write_config(text), {"SECRETS": str(tmp_path)})
    assert settings.channels.telegram is not None
    assert settings.channels.telegram.token.get_secret_value() == "123:abc"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read secret file {path}: No such file or directory"),
        ("\n", "secret file {path} is empty"),
    ],
)
def test_unusable_secret_file_names_the_key(
    write_config: WriteConfig, tmp_path: Path, content: str | None, reason: str
) -> None:
    secret_file = tmp_path / "missing_key"
    if content is not None:
        secret_file.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(_anthropic_key(f"'file:{secret_file}'")), {})
    assert caught.value.key == "models.providers.anthropic.api_key"
    assert caught.value.reason == reason.format(path=secret_file)


def test_file_prefix_is_literal_in_non_secret_fields(write_config: WriteConfig) -> None:
    settings = load_settings(
        write_config("agent: {profiles: {default: {instructions: 'file:x'}}}"), {}
    )
    assert settings.agent.profiles["default"].instructions == "file:x"


@pytest.mark.parametrize(
    ("explicit", "env", "create_default", "expected"),
    [
        ("/etc/hearth.yaml", {"HEARTH_CONFIG": "/other.yaml"}, True, "/etc/hearth.yaml"),
        ("conf/h.yaml", {}, False, "{cwd}/conf/h.yaml"),
        (None, {"HEARTH_CONFIG": "/other.yaml"}, True, "/other.yaml"),
        (None, {"HEARTH_CONFIG": ""}, True, "{cwd}/hearth.yaml"),
        (None, {}, True, "{cwd}/hearth.yaml"),
        (None, {}, False, None),
    ],
)
def test_find_config_path(
    tmp_path: Path,
    explicit: str | None,
    env: dict[str, str],
    create_default: bool,
    expected: str | None,
) -> None:
    if create_default:
        (tmp_path / "hearth.yaml").write_text("", encoding="utf-8")
    found = find_config_path(explicit, env, tmp_path)
    assert found == (None if expected is None else Path(expected.format(cwd=tmp_path)))

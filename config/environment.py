"""Settings for running without a config file, derived from well-known environment variables.

``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY`` enable a provider each, with stock ``default`` and
``fast`` tiers; ``HEARTH_MODEL`` picks another model; channel token variables enable channels. A
local OpenAI-compatible server such as Ollama::

    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=ollama HEARTH_MODEL=llama3.2 \
        hearth chat
"""

from __future__ import annotations

from collections.abc import Mapping

from config.errors import ConfigError

# Provider name (also its kind) → key variable, base-URL variable, stock default and fast models.
_PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "anthropic": (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
    ),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "gpt-5", "gpt-5-mini"),
}


def settings_data_from_env(env: Mapping[str, str]) -> dict[str, object]:
    """Build config data (the shape of a parsed hearth.yaml) from the environment.

    Empty variables count as unset. With no provider key, ``models`` is empty, which is valid: the
    runtime reports `config.missing_model_help`.

    Raises:
        ConfigError: Keyed by the variable, for ``HEARTH_MODEL`` naming an unavailable provider or
            an incomplete set of Slack variables.
    """
    data: dict[str, object] = {}
    if data_dir := _get(env, "HEARTH_DATA_DIR"):
        data["data_dir"] = data_dir
    data["models"] = _models(env)
    data["channels"] = _channels(env)
    return data


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def _models(env: Mapping[str, str]) -> dict[str, object]:
    providers: dict[str, dict[str, str]] = {}
    default: list[str] = []
    fast: list[str] = []
    for name, (key_var, _, default_model, fast_model) in _PROVIDERS.items():
        if key := _get(env, key_var):
            providers[name] = {"kind": name, "api_key": key}
            default.append(f"{name}:{default_model}")
            fast.append(f"{name}:{fast_model}")
    if model := _get(env, "HEARTH_MODEL"):
        default, fast = _apply_hearth_model(model, providers, default, fast, env)
    if not providers:
        return {}
    return {"providers": providers, "tiers": {"default": default, "fast": fast}}


def _apply_hearth_model(
    value: str,
    providers: Mapping[str, object],
    default: list[str],
    fast: list[str],
    env: Mapping[str, str],
) -> tuple[list[str], list[str]]:
    """Apply ``HEARTH_MODEL``: ``provider:model`` becomes the whole default tier; a bare model name
    replaces the model of the default tier's first entry.

    Only ``anthropic:`` and ``openai:`` prefixes make a qualified name, because Ollama model names
    contain colons too (``llama3.2:3b``).
    """
    if not providers:
        raise ConfigError(
            "HEARTH_MODEL", "needs ANTHROPIC_API_KEY or OPENAI_API_KEY to be set as well"
        )
    prefix, _, rest = value.partition(":")
    if prefix in _PROVIDERS:
        provider, model = prefix, rest.strip()
        if provider not in providers:
            raise ConfigError(
                "HEARTH_MODEL", f'provider "{provider}" needs {_PROVIDERS[provider][0]} to be set'
            )
        if not model:
            raise ConfigError("HEARTH_MODEL", 'must be "provider:model" or a model name')
        default = [f"{provider}:{model}"]
    else:
        provider, model = default[0].partition(":")[0], value.strip()
        default = [f"{provider}:{model}", *default[1:]]
    # The stock fast model is only assumed to exist on the vendor's own API; behind a custom base
    # URL (Ollama, vLLM, a gateway) the chosen model serves the fast tier too.
    if _get(env, _PROVIDERS[provider][1]):
        fast = [
            f"{provider}:{model}" if entry.startswith(f"{provider}:") else entry for entry in fast
        ]
    return default, fast


def _channels(env: Mapping[str, str]) -> dict[str, object]:
    channels: dict[str, object] = {}
    if token := _get(env, "TELEGRAM_BOT_TOKEN"):
        channels["telegram"] = {"token": token}
    if token := _get(env, "DISCORD_BOT_TOKEN"):
        channels["discord"] = {"token": token}
    slack = _slack(env)
    if slack:
        channels["slack"] = slack
    return channels


def _slack(env: Mapping[str, str]) -> dict[str, str]:
    bot_token, app_token = _get(env, "SLACK_BOT_TOKEN"), _get(env, "SLACK_APP_TOKEN")
    signing_secret = _get(env, "SLACK_SIGNING_SECRET")
    if bot_token is None:
        if app_token or signing_secret:
            raise ConfigError("SLACK_BOT_TOKEN", "is not set; the Slack channel needs it")
        return {}
    slack = {"bot_token": bot_token}
    if signing_secret:
        slack["signing_secret"] = signing_secret
    if app_token:
        slack |= {"app_token": app_token, "mode": "socket"}
    elif signing_secret:
        slack["mode"] = "http"
    else:
        raise ConfigError(
            "SLACK_APP_TOKEN",
            "is not set; Slack Socket Mode needs it alongside SLACK_BOT_TOKEN "
            "(or set SLACK_SIGNING_SECRET for HTTP mode)",
        )
    return slack

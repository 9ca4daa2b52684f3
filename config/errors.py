"""The one error type of the config layer and its translation from pydantic.

Every problem with the configuration, whatever found it (YAML parser, ``${VAR}`` interpolation,
pydantic validation, cross-section checks), surfaces as a `ConfigError` whose text is one line:
``<key path>: <reason>``. Pydantic's errors are translated here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

KeyPath = Sequence[str | int]

# Error type of `key_error`, so the translation below can find the nested key path in its context.
_KEY_ERROR_TYPE = "hearth_key"


class ConfigError(Exception):
    """Invalid or unreadable configuration.

    ``str(err)`` is a single line naming the key path and the reason, e.g.
    ``sessions.idle_ttl: must be a duration like "30m"``.

    Attributes:
        key: Dotted key path (``models.tiers.default[0]``), the config file's path for file-level
            problems, or an environment variable's name in env-only mode.
        reason: What is wrong, without the key.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(key, reason)
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}" if self.key else self.reason


def format_key(path: KeyPath) -> str:
    """Render a key path as users write it.

    ``("models", "tiers", "fast", 0)`` → ``models.tiers.fast[0]``.
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def key_error(path: KeyPath, reason: str) -> PydanticCustomError:
    """Build an error for a model validator that blames a key below the model being validated.

    A model validator's errors are located at the model itself; this lets e.g. the ``slack`` section
    report ``channels.slack.app_token`` instead of ``channels.slack``.

    Args:
        path: Key path relative to the model raising the error.
        reason: What is wrong with that key.
    """
    return PydanticCustomError(
        _KEY_ERROR_TYPE,
        "{key}: {reason}",
        {"key": format_key(path), "path": tuple(path), "reason": reason},
    )


def error_from_validation(err: ValidationError) -> ConfigError:
    """Translate pydantic's errors into one `ConfigError` naming the first problem.

    Further problems are counted, not listed, so the message stays on one line.
    """
    details = err.errors(include_url=False)
    first = details[0]
    ctx = first.get("ctx") or {}
    path: list[str | int] = list(first["loc"])
    if first["type"] == _KEY_ERROR_TYPE:
        path += list(ctx["path"])
        reason = str(ctx["reason"])
    else:
        reason = _reason(first)
    if len(details) > 1:
        reason += f" (and {len(details) - 1} more)"
    return ConfigError(format_key(path), reason)


def _literal_reason(ctx: dict[str, Any]) -> str:
    # pydantic gives the allowed values as "'a', 'b' or 'c'"; their reprs are the only structure.
    choices = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
    return "must be one of " + ", ".join(choices)


_REASONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "extra_forbidden": lambda ctx: "unknown key",
    "missing": lambda ctx: "is required",
    "literal_error": _literal_reason,
    "string_type": lambda ctx: "must be a string",
    "int_type": lambda ctx: "must be an integer",
    "int_parsing": lambda ctx: "must be an integer",
    "int_from_float": lambda ctx: "must be a whole number",
    "bool_type": lambda ctx: "must be true or false",
    "bool_parsing": lambda ctx: "must be true or false",
    "list_type": lambda ctx: "must be a list",
    "dict_type": lambda ctx: "must be a mapping",
    "model_type": lambda ctx: "must be a mapping",
    "model_attributes_type": lambda ctx: "must be a mapping",
    "too_short": lambda ctx: "must not be empty",
    "greater_than": lambda ctx: f"must be greater than {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"must be at least {ctx['ge']}",
    "less_than": lambda ctx: f"must be less than {ctx['lt']}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']}",
}


def _reason(detail: ErrorDetails) -> str:
    reason = _REASONS.get(detail["type"])
    if reason is None:
        # Our own custom errors (and pydantic's rarer ones) already carry a readable message.
        return detail["msg"]
    return reason(detail.get("ctx") or {})

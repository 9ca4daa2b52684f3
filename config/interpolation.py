"""``${VAR}`` and ``${VAR:-default}`` references in the string values of parsed config data."""

from __future__ import annotations

import re
from collections.abc import Mapping

from config.errors import ConfigError, KeyPath, format_key

# `$${...}` is an escape for a literal `${...}`.
_REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME_AND_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def interpolate(data: object, env: Mapping[str, str], path: KeyPath = ()) -> object:
    """Return a copy of ``data`` with every reference in its string values replaced from ``env``.

    ``${VAR}`` needs VAR to be set (it may be empty); ``${VAR:-default}`` uses the default when VAR
    is unset or empty, as the shell does. Keys and non-string values are left alone; nested
    references are not supported.

    Raises:
        ConfigError: At the value's key path, for an unset variable or a malformed reference.
    """
    if isinstance(data, str):
        return _substitute(data, env, path)
    if isinstance(data, dict):
        return {key: interpolate(value, env, (*path, str(key))) for key, value in data.items()}
    if isinstance(data, list):
        return [interpolate(item, env, (*path, index)) for index, item in enumerate(data)]
    return data


def _substitute(text: str, env: Mapping[str, str], path: KeyPath) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped, body = match.group(1), match.group(2)
        if escaped:
            return "${" + body + "}"
        reference = _NAME_AND_DEFAULT.fullmatch(body)
        if reference is None:
            raise ConfigError(
                format_key(path),
                f'invalid reference "${{{body}}}": expected ${{VAR}} or ${{VAR:-default}}',
            )
        name, default = reference.group(1), reference.group(2)
        value = env.get(name)
        if default is not None:
            return value or default
        if value is None:
            raise ConfigError(format_key(path), f"environment variable {name} is not set")
        return value

    return _REFERENCE.sub(replace, text)

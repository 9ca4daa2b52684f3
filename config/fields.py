"""Annotated field types shared by several config sections."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_core import PydanticCustomError

SECRET_FILE_PREFIX = "file:"


def _read_secret(value: object) -> object:
    """Resolve ``file:/path`` to the file's stripped content; reject empty secrets."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value  # SecretStr validation reports the type error.
    if value.startswith(SECRET_FILE_PREFIX):
        path = Path(value.removeprefix(SECRET_FILE_PREFIX)).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise PydanticCustomError(
                "secret_file",
                "cannot read secret file {path}: {reason}",
                {"path": str(path), "reason": reason},
            ) from err
        if not value:
            raise PydanticCustomError(
                "secret_file", "secret file {path} is empty", {"path": str(path)}
            )
    if not value:
        raise PydanticCustomError("secret_empty", "must not be empty")
    return value


Secret = Annotated[SecretStr, BeforeValidator(_read_secret)]
"""A secret: a literal string or ``file:/path/to/secret`` (read and stripped); never empty."""


def _platform_id(value: object) -> object:
    # YAML reads `- 123456` (a Telegram user or chat id) as an int; ids are strings everywhere else.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PlatformId = Annotated[str, BeforeValidator(_platform_id)]
"""A platform id (user, chat, workspace); ints from YAML become strings."""


def _url_checker(*schemes: str) -> AfterValidator:
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)

    def check(value: str) -> str:
        scheme, separator, rest = value.partition("://")
        if scheme not in schemes or not separator or not rest:
            raise PydanticCustomError(
                "url", "must be a URL starting with {wanted}", {"wanted": wanted}
            )
        return value

    return AfterValidator(check)


HttpUrl = Annotated[str, _url_checker("http", "https")]
"""An ``http://`` or ``https://`` URL, kept as the exact string the user wrote."""

WebSocketUrl = Annotated[str, _url_checker("ws", "wss")]
"""A ``ws://`` or ``wss://`` URL, kept as the exact string the user wrote."""

"""Configured secrets never reach a log line or an error message.

Secrets live in ``SecretStr`` fields, which print as ``**********``; but a secret still leaks when
an SDK puts it into text itself: python-telegram-bot's request URL carries the bot token (httpx logs
every URL at INFO), PTB logs the parameters of Bot API calls at DEBUG (``secret_token`` of
``setWebhook``), and PTB's ``InvalidToken`` message quotes the rejected token. :func:`redacting`
therefore rewrites, while the service runs, every log record and the error that ends it, replacing
each configured secret with ``********``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

MASK = "********"
MIN_SECRET_LENGTH = 4  # shorter "secrets" (test keys like "x") would mangle every line


def configured_secrets(settings: BaseModel) -> list[str]:
    """Every ``SecretStr`` value in ``settings`` (nested models, lists and dicts included)."""
    found: list[str] = []
    _collect(settings, found)
    return sorted({s for s in found if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def _collect(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)


class Redactor:
    """Replaces known secrets in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` with every secret masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def record(self, record: logging.LogRecord) -> None:
        """Mask secrets in a log record's message, exception and stack text, in place.

        The message is rendered once here (``msg % args``) so that no handler renders the raw
        arguments later.
        """
        if not self._secrets:
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it; mask what we have
            message = str(record.msg)
        record.msg, record.args = self(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self(record.exc_text)
        if record.stack_info:
            record.stack_info = self(record.stack_info)

    def exception(self, error: BaseException) -> None:
        """Mask secrets in ``error`` and its causes, in place: their arguments and their string
        attributes (python-telegram-bot's errors print ``.message``, not ``args``)."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            current.args = tuple(self(a) if isinstance(a, str) else a for a in current.args)
            for name in _attribute_names(current):
                value = getattr(current, name, None)
                if isinstance(value, str) and self(value) != value:
                    with contextlib.suppress(AttributeError, TypeError):
                        setattr(current, name, self(value))
            current = current.__cause__ or current.__context__


def _attribute_names(error: BaseException) -> set[str]:
    """Instance attributes of ``error``: its ``__dict__`` and the slots of its classes."""
    names = set(vars(error))
    for cls in type(error).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    return names


@contextlib.contextmanager
def redacting(secrets: Iterable[str]) -> Iterator[Redactor]:
    """Mask ``secrets`` in every log record created inside the block, and in the error leaving it.

    It wraps the process's log record factory (records are masked as they are made, before any
    handler or filter sees them). Nested and overlapping uses are fine: on exit the previous
    factory comes back if this one is still installed, else this one turns into a pass-through.
    """
    redactor = Redactor(secrets)
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    active = True

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if active:
            redactor.record(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield redactor
    except BaseException as exc:
        redactor.exception(exc)
        raise
    finally:
        active = False
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

"""Structured logs: one line per event, ``key=value`` or JSON, with session key and turn id.

The session key and turn id travel in context variables set by the runtime and the turn runner, so
every line logged while a turn runs (ours, or a library's) carries them. The formatter masks the
configured secrets in every line (see :mod:`bot.redaction`), whatever logged them and whenever.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from bot.redaction import Redactor
from bot.store.base import TurnRecord
from config.operations import LoggingSettings

log = logging.getLogger("hearth.turns")

SESSION: ContextVar[str] = ContextVar("hearth_session", default="")
TURN: ContextVar[str] = ContextVar("hearth_turn", default="")
_BARE = re.compile(r"[^\s\"'=\\]+")
# Loggers whose INFO lines carry request URLs (Telegram puts the bot token into the URL).
_CHATTY = ("httpx", "httpx2", "httpcore", "apscheduler")


@contextlib.contextmanager
def log_context(*, session: str | None = None, turn: str | None = None) -> Iterator[None]:
    """Tag the log lines written inside the block with a session key and/or turn id."""
    tokens = []
    if session is not None:
        tokens.append((SESSION, SESSION.set(session)))
    if turn is not None:
        tokens.append((TURN, TURN.set(turn)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_turn(turn_id: str) -> None:
    """Tag the rest of the current task's log lines with ``turn_id`` (one task runs one turn)."""
    TURN.set(turn_id)


def _quote(value: str) -> str:
    if value and _BARE.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _EventFormatter(logging.Formatter):
    """The fields of one event, secrets masked: ts, level, logger, session, turn, msg, exc."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def fields(self, record: logging.LogRecord) -> dict[str, str]:
        """The event's fields in output order (session and turn only when set)."""
        fields = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if session := SESSION.get():
            fields["session"] = session
        if turn := TURN.get():
            fields["turn"] = turn
        fields["msg"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exc"] = record.exc_text
        return {name: self._redact(value) for name, value in fields.items()}


class KeyValueFormatter(_EventFormatter):
    """``ts=… level=info logger=bot.turns session=… turn=… msg="…"`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """One line: ``key=value`` pairs, values quoted when they need it."""
        return " ".join(f"{k}={_quote(v)}" for k, v in self.fields(record).items())


class JsonFormatter(_EventFormatter):
    """One JSON object per line with the same fields as :class:`KeyValueFormatter`."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON."""
        return json.dumps(self.fields(record), ensure_ascii=False)


def configure_logging(
    settings: LoggingSettings, *, secrets: Iterable[str], stream: TextIO, verbose: bool = False
) -> logging.Handler:
    """Route every log line through one handler in the configured format; returns the handler.

    Replaces the root logger's handlers. ``verbose`` lowers the level to debug.
    """
    redact = Redactor(secrets)
    formatter: logging.Formatter = (
        JsonFormatter(redact) if settings.format == "json" else KeyValueFormatter(redact)
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else settings.level.upper())
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    return handler


def log_turn(turn: TurnRecord, error: BaseException | None) -> None:
    """One line per stored turn (an observer of the turn runner): status, TTFT, model, tokens."""
    ttft = "-" if turn.ttft_ns is None else f"{turn.ttft_ns / 1e9:.2f} s"
    usage = turn.usage
    log.log(
        logging.INFO if error is None else logging.WARNING,
        "turn %s: ttft %s, %s session, turn %d, model %s, tokens in %d (cache read %d) out %d",
        turn.status,
        ttft,
        "warm" if turn.warm else "cold",
        turn.ordinal,
        turn.model or "-",
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.output_tokens,
    )

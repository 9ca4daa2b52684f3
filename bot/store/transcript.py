"""Turns and their messages as rows: the append done in the writer thread, and the mapping back.

The append runs inside a write transaction of :class:`~bot.store.writer.SqliteWriter`, so it is
synchronous and takes a plain ``sqlite3`` connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from agent.messages import ChatMessage, Usage
from bot.store.base import Segments, ToolCallRecord, TurnRecord


def append_turn(
    conn: sqlite3.Connection, turn: TurnRecord, messages: Sequence[ChatMessage]
) -> None:
    """Append ``messages`` to the turn's session (numbered after the last one) and the turn."""
    created = turn.created_at.isoformat()
    # fetchall, not fetchone: a statement left unfinished would keep a read snapshot open on
    # the writer connection (and a checkpoint from truncating the log).
    [(last,)] = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session_id = ?", (turn.session_id,)
    ).fetchall()
    seq = int(last)
    conn.executemany(
        "INSERT INTO messages (session_id, seq, turn_id, role, content, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (turn.session_id, seq + i, turn.id, m.role, m.to_json(), created)
            for i, m in enumerate(messages, start=1)
        ],
    )
    conn.execute(_INSERT_TURN, _turn_row(turn))


_TURN_FIELDS = [
    "id",
    "session_id",
    "ordinal",
    "platform",
    "profile",
    "model",
    "warm",
    "status",
    "error",
    "created_at",
    "queue_ns",
    "session_ns",
    "prepare_ns",
    "model_ns",
    "deliver_ns",
    "ttft_ns",
    "total_ns",
    "ingress_lag_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tools",
    "cost_usd",
    "cache_savings_usd",
    "user_id",
    "user_name",
    "workspace",
]
TURN_COLUMNS = ", ".join(_TURN_FIELDS)
_INSERT_TURN = f"INSERT INTO turns ({TURN_COLUMNS}) VALUES ({', '.join('?' for _ in _TURN_FIELDS)})"

SqlValue = str | int | float | None
"""What a column holds here."""


def _turn_row(turn: TurnRecord) -> tuple[SqlValue, ...]:
    seg = turn.segments
    parts: tuple[SqlValue, ...] = (
        (seg.queue, seg.session, seg.prepare, seg.model, seg.deliver, seg.ttft)
        if seg is not None
        else (None,) * 6
    )
    tools = json.dumps([[t.name, t.ok, t.duration_ns] for t in turn.tools])
    return (
        turn.id,
        turn.session_id,
        turn.ordinal,
        turn.platform,
        turn.profile,
        turn.model,
        int(turn.warm),
        turn.status,
        turn.error,
        turn.created_at.isoformat(),
        *parts,
        turn.total_ns,
        turn.ingress_lag_ms,
        turn.usage.input_tokens,
        turn.usage.output_tokens,
        turn.usage.cache_read_tokens,
        turn.usage.cache_write_tokens,
        tools,
        turn.cost_usd,
        turn.cache_savings_usd,
        turn.user_id,
        turn.user_name,
        turn.workspace,
    )


def turn_from_row(row: aiosqlite.Row | tuple[SqlValue, ...]) -> TurnRecord:
    """A stored turn from a row of ``SELECT {TURN_COLUMNS} FROM turns``."""
    values = dict(zip(_TURN_FIELDS, row, strict=True))
    segments = None
    if values["ttft_ns"] is not None:
        segments = Segments(
            queue=int(values["queue_ns"] or 0),
            session=int(values["session_ns"] or 0),
            prepare=int(values["prepare_ns"] or 0),
            model=int(values["model_ns"] or 0),
            deliver=int(values["deliver_ns"] or 0),
        )
    return TurnRecord(
        id=str(values["id"]),
        session_id=str(values["session_id"]),
        ordinal=int(values["ordinal"] or 0),
        platform=str(values["platform"]),
        profile=str(values["profile"]),
        model=str(values["model"]),
        warm=bool(values["warm"]),
        status=str(values["status"]),
        error=None if values["error"] is None else str(values["error"]),
        created_at=datetime.fromisoformat(str(values["created_at"])),
        segments=segments,
        total_ns=int(values["total_ns"] or 0),
        ingress_lag_ms=None
        if values["ingress_lag_ms"] is None
        else float(values["ingress_lag_ms"]),
        usage=Usage(
            int(values["input_tokens"] or 0),
            int(values["output_tokens"] or 0),
            int(values["cache_read_tokens"] or 0),
            int(values["cache_write_tokens"] or 0),
        ),
        tools=tuple(
            ToolCallRecord(str(n), bool(ok), int(d))
            for n, ok, d in json.loads(str(values["tools"]))
        ),
        cost_usd=float(values["cost_usd"] or 0.0),
        cache_savings_usd=float(values["cache_savings_usd"] or 0.0),
        user_id=str(values["user_id"] or ""),
        user_name=str(values["user_name"] or ""),
        workspace=str(values["workspace"] or ""),
    )

"""The inbox and the delivery ledger in SQLite: what was accepted, and what was posted for it.

Inbox: an accepted message is a row of ``inbound`` (the dedupe table) with its normalized payload
and ``state`` ``pending`` until its turn is stored (``done``). Ledger: one ``deliveries`` row per
turn with the platform message ids the reply created, the text they show and the state of the
reply (``streaming`` → ``finishing`` → ``final``, or ``failed``). The inbox rows of a turn point
at its delivery (``turn_id``) from the ledger's first write on.

The writes (:func:`accept`, :func:`settle`, :func:`save`, :func:`prune`) are synchronous: they
run inside one write transaction of the store's writer thread (:mod:`bot.store.writer`) on its
``sqlite3`` connection. The reads take the store's aiosqlite connection. The value types are what
the :class:`~bot.store.base.Store` interface speaks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiosqlite

DeliveryState = Literal["streaming", "finishing", "final", "failed"]


@dataclass(frozen=True, slots=True)
class InboxRef:
    """The platform identity of an inbound message (the dedupe key)."""

    platform: str
    chat: str
    message_id: str


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An accepted message as the inbox keeps it.

    Attributes:
        ref: Its platform identity.
        session_key: ``str(SessionKey)`` of its conversation.
        payload: The normalized message as JSON (see :mod:`bot.inbox`).
        accepted_ns: Wall-clock nanoseconds when it was accepted (order and age).
        turn_id: The turn whose reply answers it, once that reply showed something.
    """

    ref: InboxRef
    session_key: str
    payload: str
    accepted_ns: int
    turn_id: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one turn's reply put on the platform.

    Attributes:
        turn_id: The turn.
        session_key: Its conversation.
        state: ``streaming`` (text is showing), ``finishing`` (the final form is on its way:
            ``text`` is the whole answer and ``tail`` its footer), ``final`` or ``failed``.
        message_ids: The platform messages the reply created, in order.
        text: The answer text they show (at the last write).
        tail: The footer under the final message (``finishing``/``final``).
        covers: The inbox messages the turn answers.
    """

    turn_id: str
    session_key: str
    state: DeliveryState
    message_ids: tuple[str, ...] = ()
    text: str = ""
    tail: str = ""
    covers: tuple[InboxRef, ...] = ()


def accept(conn: sqlite3.Connection, entry: InboxEntry) -> bool:
    """Insert ``entry`` as pending; False when its id was claimed before (a duplicate).

    One statement: the store runs it on its own, committed by SQLite (``statement=True``).
    """
    ref = entry.ref
    cursor = conn.execute(
        "INSERT INTO inbound (platform, chat, message_id, received_at, state, session_key,"
        " payload, accepted_ns) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            ref.platform,
            ref.chat,
            ref.message_id,
            _iso(entry.accepted_ns),
            entry.session_key,
            entry.payload,
            entry.accepted_ns,
        ),
    )
    return cursor.rowcount == 1


def settle(conn: sqlite3.Connection, refs: Sequence[InboxRef]) -> None:
    """Mark inbox rows done (answered, refused, or given up on); the payload is dropped."""
    conn.executemany(
        "UPDATE inbound SET state = 'done', payload = '' WHERE platform = ? AND chat = ?"
        " AND message_id = ? AND state = 'pending'",
        [(r.platform, r.chat, r.message_id) for r in refs],
    )


async def pending(db: aiosqlite.Connection) -> list[InboxEntry]:
    """Pending inbox rows, oldest first."""
    async with db.execute(
        "SELECT platform, chat, message_id, session_key, payload, accepted_ns, turn_id"
        " FROM inbound WHERE state = 'pending' ORDER BY accepted_ns"
    ) as cursor:
        rows = await cursor.fetchall()
    return [
        InboxEntry(
            InboxRef(str(r[0]), str(r[1]), str(r[2])),
            str(r[3]),
            str(r[4]),
            int(r[5]),
            None if r[6] is None else str(r[6]),
        )
        for r in rows
    ]


def save(conn: sqlite3.Connection, delivery: Delivery, *, link: bool) -> None:
    """Upsert ``delivery``; with ``link``, point its pending inbox rows at it."""
    conn.execute(
        "INSERT INTO deliveries (turn_id, session_key, state, message_ids, text, tail,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (turn_id) DO UPDATE SET"
        " state = excluded.state, message_ids = excluded.message_ids, text = excluded.text,"
        " tail = excluded.tail, updated_at = excluded.updated_at",
        (
            delivery.turn_id,
            delivery.session_key,
            delivery.state,
            json.dumps(delivery.message_ids),
            delivery.text,
            delivery.tail,
            datetime.now(UTC).isoformat(),
        ),
    )
    if link and delivery.covers:
        conn.executemany(
            "UPDATE inbound SET turn_id = ? WHERE platform = ? AND chat = ? AND message_id = ?"
            " AND state = 'pending'",
            [(delivery.turn_id, r.platform, r.chat, r.message_id) for r in delivery.covers],
        )


async def load(db: aiosqlite.Connection, turn_ids: Sequence[str]) -> dict[str, Delivery]:
    """The deliveries of ``turn_ids`` that exist, by turn id (``covers`` is left empty)."""
    found: dict[str, Delivery] = {}
    for turn_id in dict.fromkeys(turn_ids):
        async with db.execute(
            "SELECT session_key, state, message_ids, text, tail FROM deliveries WHERE turn_id = ?",
            (turn_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is not None:
            ids = tuple(str(i) for i in json.loads(str(row[2])))
            state: DeliveryState = _state(str(row[1]))
            found[turn_id] = Delivery(turn_id, str(row[0]), state, ids, str(row[3]), str(row[4]))
    return found


def prune(conn: sqlite3.Connection, cutoff: datetime) -> int:
    """Delete ledger rows last written before ``cutoff`` (retention)."""
    cursor = conn.execute(
        "DELETE FROM deliveries WHERE updated_at < ?", (cutoff.astimezone(UTC).isoformat(),)
    )
    return cursor.rowcount


_STATES: dict[str, DeliveryState] = {
    "streaming": "streaming",
    "finishing": "finishing",
    "final": "final",
    "failed": "failed",
}


def _state(value: str) -> DeliveryState:
    try:
        return _STATES[value]
    except KeyError:
        raise ValueError(f"unknown delivery state {value!r}") from None


def _iso(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, UTC).isoformat()

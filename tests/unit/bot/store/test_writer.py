"""Write transactions in the store's writer thread: atomic, never interleaved (with each other or
with the async ``transaction()``), the inbox insert first, and a clean start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.messages import ChatMessage
from bot.store.base import SessionRecord, TurnRecord
from bot.store.ledger import InboxEntry, InboxRef
from bot.store.sqlite import SqliteStore
from bot.store.writer import SqliteWriter, WriterClosedError
from tests.harness import wait_until

GATE_S = 30.0  # a safety valve for a blocked writer thread if a test fails half-way


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "h.db") as sqlite:
        await sqlite.write(
            lambda c: c.execute(
                "CREATE TABLE probe (id INTEGER PRIMARY KEY, task INTEGER, part INTEGER)"
            )
        )
        await sqlite.write(lambda c: c.execute("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await sqlite.write(lambda c: c.execute("INSERT INTO counter (n) VALUES (0)"))
        yield sqlite


@contextlib.contextmanager
def gate() -> Iterator[threading.Event]:
    """An event a writer-thread function waits on; always opened on the way out."""
    opened = threading.Event()
    try:
        yield opened
    finally:
        opened.set()


def turn(ident: str) -> TurnRecord:
    return TurnRecord(ident, "s1", 1, "telegram", "default", "m", False, "ok",
                      datetime.now(UTC), None, 0)  # fmt: skip


async def rows(store: SqliteStore, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await store.db.execute_fetchall(sql)]


async def test_a_failing_statement_rolls_the_whole_turn_record_back(store: SqliteStore) -> None:
    await store.create_session(SessionRecord("s1", "telegram:bot:1:", datetime.now(UTC)))
    said = [ChatMessage.user_text("one"), ChatMessage.user_text("two")]
    await store.record_turn(turn("t1"), said)
    # The same turn id again: its messages insert fine, then the turn row violates the key.
    with pytest.raises(sqlite3.IntegrityError):
        await store.record_turn(turn("t1"), [ChatMessage.user_text("three")])
    assert await rows(store, "SELECT seq FROM messages ORDER BY seq") == [(1,), (2,)]
    await store.record_turn(turn("t2"), [ChatMessage.user_text("three")])  # still writable
    assert await rows(store, "SELECT seq, turn_id FROM messages WHERE seq = 3") == [(3, "t2")]


async def test_an_exception_in_the_function_rolls_back_and_reaches_the_caller(
    store: SqliteStore,
) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO probe (task, part) VALUES (1, 1)")
        raise LookupError("changed my mind")

    with pytest.raises(LookupError, match="changed my mind"):
        await store.write(half_then_fail)
    assert await rows(store, "SELECT * FROM probe") == []


async def test_concurrent_transactions_of_both_kinds_never_interleave(store: SqliteStore) -> None:
    active = [0]
    most = [0]

    def enter() -> None:
        active[0] += 1
        most[0] = max(most[0], active[0])

    def in_thread(task: int) -> Callable[[sqlite3.Connection], None]:
        def body(conn: sqlite3.Connection) -> None:
            enter()
            [(n,)] = conn.execute("SELECT n FROM counter").fetchall()
            conn.execute("INSERT INTO probe (task, part) VALUES (?, 1)", (task,))
            conn.execute("INSERT INTO probe (task, part) VALUES (?, 2)", (task,))
            conn.execute("UPDATE counter SET n = ?", (n + 1,))
            active[0] -= 1

        return body

    async def thread_task(task: int) -> None:
        await store.write(in_thread(task))

    async def async_task(task: int) -> None:
        async with store.transaction() as db:
            enter()
            [(n,)] = await db.execute_fetchall("SELECT n FROM counter")
            await db.execute("INSERT INTO probe (task, part) VALUES (?, 1)", (task,))
            await asyncio.sleep(0)  # other tasks run here; their writes must wait
            await db.execute("INSERT INTO probe (task, part) VALUES (?, 2)", (task,))
            await db.execute("UPDATE counter SET n = ?", (n + 1,))
            active[0] -= 1

    async with asyncio.TaskGroup() as group:
        for task in range(100):
            group.create_task(thread_task(task) if task % 2 else async_task(task))

    assert await rows(store, "SELECT n FROM counter") == [(100,)]  # no lost update
    assert most[0] == 1
    probe = [
        (r[0], r[1])
        for r in await store.db.execute_fetchall("SELECT task, part FROM probe ORDER BY id")
    ]
    # Each task's two rows are adjacent: nothing else was written between them.
    pairs = [(probe[i], probe[i + 1]) for i in range(0, len(probe), 2)]
    assert [(a[1], b[1]) for a, b in pairs] == [(1, 2)] * 100
    assert all(a[0] == b[0] for a, b in pairs)
    assert sorted(a[0] for a, _ in pairs) == list(range(100))


async def test_an_async_transaction_waits_for_the_running_write_and_the_next_write_for_it(
    store: SqliteStore,
) -> None:
    order: list[str] = []
    started = threading.Event()
    with gate() as opened:

        def slow(conn: sqlite3.Connection) -> None:
            started.set()
            opened.wait(GATE_S)
            conn.execute("INSERT INTO probe (task, part) VALUES (1, 1)")
            order.append("first write")

        first = asyncio.create_task(store.write(slow))
        await wait_until(started.is_set)

        async def transaction() -> None:
            async with store.transaction() as db:
                order.append("transaction")
                # Round trips on the aiosqlite connection: the writer stays parked meanwhile.
                for _ in range(5):
                    await db.execute("INSERT INTO probe (task, part) VALUES (2, 1)")
                order.append("transaction end")

        txn = asyncio.create_task(transaction())
        await asyncio.sleep(0)  # it queued its hold behind the running write
        second = asyncio.create_task(store.write(lambda c: order.append("second write")))
        for _ in range(5):  # the loop and the aiosqlite thread are free: only the writer waits
            await store.db.execute_fetchall("SELECT 1")
        assert order == []
        opened.set()
        await asyncio.gather(first, txn, second)
    assert order == ["first write", "transaction", "transaction end", "second write"]


async def test_a_transaction_cancelled_while_waiting_does_not_wedge_the_writer(
    store: SqliteStore,
) -> None:
    started = threading.Event()
    with gate() as opened:

        def slow(conn: sqlite3.Connection) -> None:
            started.set()
            opened.wait(GATE_S)

        first = asyncio.create_task(store.write(slow))
        await wait_until(started.is_set)

        async def never_runs() -> None:
            async with store.transaction() as db:
                await db.execute("INSERT INTO probe (task, part) VALUES (9, 9)")

        waiting = asyncio.create_task(never_runs())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        opened.set()
        await first
    await store.write(lambda c: c.execute("INSERT INTO probe (task, part) VALUES (1, 1)"))
    async with store.transaction() as db:
        await db.execute("INSERT INTO probe (task, part) VALUES (2, 1)")
    assert await rows(store, "SELECT task FROM probe ORDER BY id") == [(1,), (2,)]


async def test_the_inbox_insert_goes_before_the_writes_already_waiting(store: SqliteStore) -> None:
    seen: list[tuple[str, int]] = []  # (write, inbox rows it saw)
    started = threading.Event()
    with gate() as opened:

        def slow(conn: sqlite3.Connection) -> None:
            started.set()
            opened.wait(GATE_S)

        def record(name: str) -> Callable[[sqlite3.Connection], None]:
            def body(conn: sqlite3.Connection) -> None:
                [(inbox,)] = conn.execute("SELECT COUNT(*) FROM inbound").fetchall()
                seen.append((name, int(inbox)))

            return body

        first = asyncio.create_task(store.write(slow))
        await wait_until(started.is_set)
        records = [asyncio.create_task(store.write(record(f"record {i}"))) for i in range(3)]
        await asyncio.sleep(0)  # they are queued
        entry = InboxEntry(InboxRef("telegram", "1", "m1"), "telegram:bot:1:", "{}", 1)
        accepted = asyncio.create_task(store.accept_inbound(entry))
        await asyncio.sleep(0)
        later = asyncio.create_task(store.write(record("record 3")))
        opened.set()
        await asyncio.gather(first, *records, accepted, later)
    assert accepted.result() is True
    # The inbox row was in before every waiting record; the records kept their own order.
    assert seen == [("record 0", 1), ("record 1", 1), ("record 2", 1), ("record 3", 1)]


async def test_close_finishes_the_queued_writes_and_later_ones_are_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "h.db")
    await store.open()
    entries = [
        InboxEntry(InboxRef("telegram", "1", f"m{i}"), "telegram:bot:1:", "{}", i)
        for i in range(20)
    ]
    accepted = [asyncio.create_task(store.accept_inbound(e)) for e in entries]
    await asyncio.sleep(0)  # all queued
    await store.close()
    assert [t.result() for t in accepted] == [True] * 20
    with pytest.raises(WriterClosedError):
        await store.settle_inbound([entries[0].ref])
    async with SqliteStore(tmp_path / "h.db") as again:
        assert len(await again.pending_inbound()) == 20


async def test_a_writer_that_cannot_open_its_database_says_so_and_leaves_no_thread(
    tmp_path: Path,
) -> None:
    before = set(threading.enumerate())
    writer = SqliteWriter(tmp_path, busy_timeout_ms=10)  # a directory is no database file
    with pytest.raises(sqlite3.OperationalError):
        await writer.start()
    assert set(threading.enumerate()) <= before  # no new thread (others may have ended)
    with pytest.raises(WriterClosedError):
        await writer.run(lambda c: None)
    await writer.close()  # nothing to close: no error


async def test_a_single_statement_commits_on_its_own_and_reports_its_error(
    store: SqliteStore,
) -> None:
    inserted = await store.write(
        lambda c: c.execute("INSERT INTO probe (id, task, part) VALUES (1, 1, 1)").rowcount,
        statement=True,
    )
    assert inserted == 1
    assert await rows(store, "SELECT id, task, part FROM probe") == [(1, 1, 1)]  # committed
    with pytest.raises(sqlite3.IntegrityError):
        await store.write(
            lambda c: c.execute("INSERT INTO probe (id, task, part) VALUES (1, 2, 2)"),
            statement=True,
        )
    # The writer goes on, with no transaction left open by the failed statement.
    assert not await store.write(lambda c: c.in_transaction, statement=True)
    await store.write(lambda c: c.execute("UPDATE counter SET n = n + 1"))
    assert await rows(store, "SELECT n FROM counter") == [(1,)]


async def test_the_inbox_insert_claims_once_as_a_single_statement(store: SqliteStore) -> None:
    entry = InboxEntry(InboxRef("telegram", "1", "m1"), "telegram:bot:1:", "{}", 1)
    assert await store.accept_inbound(entry)
    assert not await store.accept_inbound(entry)  # a duplicate
    assert await rows(store, "SELECT message_id, state FROM inbound") == [("m1", "pending")]

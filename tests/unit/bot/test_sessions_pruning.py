"""The pruning job on a real SQLite store with injected clocks: idle eviction with a cold restore,
capacity, and retention that deletes only what is older than the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.messages import ChatMessage, TextBlock
from bot.jobs import Pruner
from bot.sessions import Evictions, SessionPool
from bot.store.base import RetentionCounts, SessionRecord, TurnRecord
from bot.store.sqlite import SqliteStore
from channels.base import SessionKey
from tests.unit.bot.test_sessions import Ticker

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=90)


class WallClock:
    """A wall clock the test sets by hand (the :class:`agent.clock.Clock` interface)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def key(chat: str) -> SessionKey:
    return SessionKey("test", "w", chat)


def exchange(text: str) -> tuple[ChatMessage, ChatMessage]:
    return ChatMessage.user_text(text), ChatMessage("assistant", (TextBlock(f"re: {text}"),))


def turn(session_id: str, ordinal: int, at: datetime) -> TurnRecord:
    return TurnRecord(
        id=f"{session_id}-{ordinal}",
        session_id=session_id,
        ordinal=ordinal,
        platform="test",
        profile="default",
        model="a:m",
        warm=ordinal > 1,
        status="ok",
        created_at=at,
        segments=None,
        total_ns=1,
    )


async def count(store: SqliteStore, table: str) -> int:
    async with store.db.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_idle_sessions_leave_memory_and_come_back_cold_from_the_store(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        ticker, clock = Ticker(), WallClock(START)
        pool = SessionPool(store, capacity=10, idle_ttl_s=3600, monotonic=ticker)
        pruner = Pruner(pool, store, clock, RETENTION)
        session, _ = await pool.acquire(key("a"))
        said = exchange("hello")
        await store.record_turn(turn(session.id, 1, START), said)
        session.append(said)
        await pool.acquire(key("b"))

        ticker.now = 1800
        await pool.acquire(key("b"))  # b is used again; a is idle for 30 min
        assert (await pruner.run()).evicted == Evictions(idle=0, capacity=0)

        ticker.now = 3601  # a: idle for just over the TTL; b: for 30 min
        result = await pruner.run()
        assert result.evicted == Evictions(idle=1, capacity=0)
        assert pool.peek(key("a")) is None and pool.peek(key("b")) is not None

        restored, warm = await pool.acquire(key("a"))
        assert not warm
        assert restored is not session and restored.id == session.id
        assert restored.transcript == said
        assert restored.turn_count == 1
        assert pool.evicted == {"idle": 1, "capacity": 0}


async def test_retention_deletes_only_history_older_than_the_limit(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        clock = WallClock(START)
        pool = SessionPool(store, capacity=10, idle_ttl_s=3600, monotonic=Ticker())
        pruner = Pruner(pool, store, clock, RETENTION)
        cutoff = START - RETENTION
        # An open session with one turn just past the limit and one just inside it.
        open_id = "open"
        await store.create_session(
            SessionRecord(open_id, str(key("a")), cutoff - timedelta(days=9))
        )
        old, recent = exchange("old"), exchange("recent")
        await store.record_turn(turn(open_id, 1, cutoff - timedelta(seconds=1)), old)
        await store.record_turn(turn(open_id, 2, cutoff + timedelta(seconds=1)), recent)
        # A closed session, all of it past the limit, and another closed inside it.
        for name, at in (
            ("gone", cutoff - timedelta(days=3)),
            ("kept", cutoff + timedelta(days=1)),
        ):
            await store.create_session(SessionRecord(name, str(key(name)), at))
            await store.record_turn(turn(name, 1, at), exchange(name))
            await store.create_session(SessionRecord(f"{name}-next", str(key(name)), at))
        await store.claim_inbound("test", "a", "m-old")

        result = await pruner.run()

        assert result.deleted == RetentionCounts(messages=4, turns=2, sessions=1, inbound=0)
        loaded = await store.load_session(str(key("a")))
        assert loaded is not None and loaded.messages == recent
        remaining = {t.id for t in await store.turns()}
        assert remaining == {"open-2", "kept-1"}
        assert await count(store, "sessions") == 4  # open, kept, gone-next, kept-next
        assert await count(store, "inbound") == 1  # claimed now: far inside the limit

        # Running it again changes nothing: the job is idempotent.
        again = await pruner.run()
        assert again.deleted == RetentionCounts()


async def test_inbound_ids_past_retention_are_forgotten(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        await store.claim_inbound("test", "a", "m1")
        pool = SessionPool(store, capacity=10, idle_ttl_s=3600)
        # From a clock far in the future, the claim made now is past retention.
        future = WallClock(datetime.now(UTC) + RETENTION + timedelta(days=1))
        result = await Pruner(pool, store, future, RETENTION).run()
        assert result.deleted.inbound == 1
        assert await store.claim_inbound("test", "a", "m1")  # a new claim succeeds again


async def test_pruning_trims_the_pool_to_capacity(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        pool = SessionPool(store, capacity=2, idle_ttl_s=3600, monotonic=Ticker())
        for chat in "abc":
            await pool.acquire(key(chat))
        # Admission keeps the pool at capacity, so a pass finds nothing more to trim.
        assert len(pool) == 2 and pool.evicted["capacity"] == 1
        result = await Pruner(pool, store, WallClock(START), RETENTION).run()
        assert result.evicted == Evictions(idle=0, capacity=0)


async def test_heartbeat_row_and_maintenance_run_on_the_store(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        await store.record_heartbeat(START)
        await store.record_heartbeat(START + timedelta(minutes=1))
        async with store.db.execute("SELECT id, beat_at FROM heartbeat") as cursor:
            rows = [tuple(r) for r in await cursor.fetchall()]
        assert rows == [(1, (START + timedelta(minutes=1)).isoformat())]
        wal = tmp_path / "h.db-wal"
        assert wal.stat().st_size > 0
        await store.maintain()
        assert wal.stat().st_size == 0  # TRUNCATE checkpoint: everything is in the main file

"""The warm pool: LRU capacity, idle TTL, cold restore and /new, on a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.messages import ChatMessage, Usage
from bot.sessions import SessionPool
from bot.store.base import SessionRecord, TurnRecord
from bot.store.sqlite import SqliteStore
from channels.base import SessionKey


class CountingSqliteStore(SqliteStore):
    """The real store, counting session loads (the cold path)."""

    loads = 0

    async def load_session(self, key: str) -> SessionRecord | None:
        self.loads += 1
        return await super().load_session(key)


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def key(chat: str) -> SessionKey:
    return SessionKey("test", "w", chat)


async def test_warm_hits_do_not_read_the_store_and_lru_evicts(tmp_path: Path) -> None:
    async with CountingSqliteStore(tmp_path / "h.db") as store:
        pool = SessionPool(store, capacity=2, idle_ttl_s=60, monotonic=Ticker())
        a, warm_a = await pool.acquire(key("a"))
        again, warm_again = await pool.acquire(key("a"))
        assert (warm_a, warm_again, again is a, store.loads) == (False, True, True, 1)
        await pool.acquire(key("b"))
        await pool.acquire(key("a"))  # a is now most recent
        await pool.acquire(key("c"))  # evicts b
        assert pool.peek(key("b")) is None and pool.peek(key("a")) is a
        assert len(pool) == 2
        assert pool.evicted == {"idle": 0, "capacity": 1}


async def test_idle_sessions_are_evicted_and_come_back_cold_with_history(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        clock = Ticker()
        pool = SessionPool(store, capacity=10, idle_ttl_s=60, monotonic=clock)
        session, _ = await pool.acquire(key("a"))
        messages = (ChatMessage.user_text("hi"), ChatMessage("assistant", ()))
        await store.record_turn(_turn(session.id), messages)
        session.append(messages)
        clock.now = 61
        assert pool.evict_idle() == 1
        restored, warm = await pool.acquire(key("a"))
        assert not warm
        assert restored.id == session.id
        assert restored.transcript == messages
        assert restored.turn_count == 1


async def test_new_starts_a_fresh_session_and_closes_the_old(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        pool = SessionPool(store, capacity=10, idle_ttl_s=60)
        old, _ = await pool.acquire(key("a"))
        fresh = await pool.reset(key("a"))
        assert fresh.id != old.id
        loaded = await store.load_session(str(key("a")))
        assert loaded is not None and loaded.id == fresh.id


def _turn(session_id: str) -> TurnRecord:
    return TurnRecord(
        id="t1",
        session_id=session_id,
        ordinal=1,
        platform="test",
        profile="default",
        model="a:m",
        warm=False,
        status="ok",
        created_at=datetime.now(UTC),
        segments=None,
        total_ns=1,
        usage=Usage(),
    )

"""Run the real runtime in-process with the console channel, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.messages import ChatMessage
from bot.runtime import Runtime
from bot.store.base import RetentionCounts, SessionRecord, Store, TurnRecord
from bot.store.ledger import Delivery, InboxEntry, InboxRef
from bot.wiring import open_runtime, open_store
from channels.console import ConsoleChannel
from config import Settings
from config.settings import parse_settings

WAIT_S = 10.0


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:  # noqa: ASYNC109
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds.

    Polling (not an Event) because the conditions span components that know nothing of the test.
    """
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


class SteppingClock:
    """A wall clock that moves one minute per reading, so every turn's volatile context differs."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The next minute."""
        self._now += timedelta(minutes=1)
        return self._now


class Lines:
    """An async line source the test writes into."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()

    def say(self, text: str) -> None:
        """Type a line."""
        self._queue.put_nowait(text + "\n")

    def end(self) -> None:
        """End of input."""
        self._queue.put_nowait(None)

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> str:
        line = await self._queue.get()
        if line is None:
            raise StopAsyncIteration
        return line


class CountingStore:
    """A :class:`Store` that forwards to another and counts session loads (the cold path)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.loads = 0

    async def load_session(self, key: str) -> SessionRecord | None:
        self.loads += 1
        return await self.inner.load_session(key)

    async def create_session(self, record: SessionRecord) -> None:
        await self.inner.create_session(record)

    async def close_session(self, session_id: str) -> None:
        await self.inner.close_session(session_id)

    async def set_model_override(self, session_id: str, value: str | None) -> None:
        await self.inner.set_model_override(session_id, value)

    async def record_turn(self, turn: TurnRecord, messages: Sequence[ChatMessage]) -> None:
        await self.inner.record_turn(turn, messages)

    async def turns(
        self, *, since: datetime | None = None, session_id: str | None = None
    ) -> list[TurnRecord]:
        return await self.inner.turns(since=since, session_id=session_id)

    async def compact_session(self, session_id: str, summary: str, keep_messages: int) -> None:
        await self.inner.compact_session(session_id, summary, keep_messages)

    async def claim_inbound(self, platform: str, chat: str, message_id: str) -> bool:
        return await self.inner.claim_inbound(platform, chat, message_id)

    async def delete_history_before(self, cutoff: datetime) -> RetentionCounts:
        return await self.inner.delete_history_before(cutoff)

    async def record_heartbeat(self, at: datetime) -> None:
        await self.inner.record_heartbeat(at)

    async def maintain(self) -> None:
        await self.inner.maintain()

    async def accept_inbound(self, entry: InboxEntry) -> bool:
        return await self.inner.accept_inbound(entry)

    async def settle_inbound(self, refs: Sequence[InboxRef]) -> None:
        await self.inner.settle_inbound(refs)

    async def pending_inbound(self) -> list[InboxEntry]:
        return await self.inner.pending_inbound()

    async def save_delivery(self, delivery: Delivery) -> None:
        await self.inner.save_delivery(delivery)

    async def deliveries(self, turn_ids: Sequence[str]) -> dict[str, Delivery]:
        return await self.inner.deliveries(turn_ids)

    async def record_delivered_turn(
        self,
        turn: TurnRecord,
        messages: Sequence[ChatMessage],
        *,
        settled: Sequence[InboxRef],
        delivery: Delivery | None,
    ) -> None:
        await self.inner.record_delivered_turn(turn, messages, settled=settled, delivery=delivery)


@dataclass
class Chat:
    """A running console conversation."""

    runtime: Runtime
    console: ConsoleChannel
    lines: Lines
    out: io.StringIO

    async def say(self, text: str) -> str:
        """Send ``text`` and return the printed reply (with its footer)."""
        before = len(self.out.getvalue())
        expected = self.console.replies + 1
        self.lines.say(text)
        await wait_until(lambda: self.console.replies >= expected)
        return self.out.getvalue()[before:]


def settings_for(data_dir: Path, providers: Mapping[str, Any], **extra: Any) -> Settings:
    """Settings with the given providers; tier ``default`` uses the first one's ``test-model``."""
    first = next(iter(providers))
    data: dict[str, Any] = {
        "data_dir": str(data_dir),
        "models": {
            "providers": {**providers},
            "tiers": {"default": [f"{first}:test-model"]},
        },
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_settings(data)


@contextlib.asynccontextmanager
async def console_chat(
    settings: Settings, *, store: Store | None = None, user: str = "alice"
) -> AsyncIterator[Chat]:
    """The runtime with a console channel; closed (gracefully) on exit."""
    lines = Lines()
    out = io.StringIO()
    console = ConsoleChannel(lines, out, user=user, interactive=False)
    async with open_runtime(settings, [console], store=store, clock=SteppingClock()) as runtime:
        yield Chat(runtime, console, lines, out)
        lines.end()


async def stored_turns(settings: Settings) -> list[TurnRecord]:
    """Every turn in the store under ``settings.data_dir``."""
    async with open_store(settings) as store:
        return await store.turns()

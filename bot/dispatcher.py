"""One lane per session key: strict order within a thread, parallel across threads, bounded overall.

A lane is a worker task that exists while its session has work. What a message arriving mid-turn
does depends on the lane mode (DESIGN.md §4):

* ``queue``: it runs after the current turn, one turn per message;
* ``collect`` (default): everything that arrived while a turn ran becomes one next turn;
* ``interrupt``: the running turn is cancelled (it keeps what was said) and a new turn starts.

Messages for which ``is_barrier`` holds (commands) are never merged with others. Every task is owned:
lane workers by the dispatcher, turn tasks by their lane worker, and :meth:`Dispatcher.aclose`
awaits them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from channels.base import InboundMessage, SessionKey

log = logging.getLogger(__name__)

LaneMode = Literal["queue", "collect", "interrupt"]
TurnHandler = Callable[[list[InboundMessage]], Coroutine[Any, Any, None]]


class DispatcherClosedError(RuntimeError):
    """The dispatcher no longer accepts messages (shutting down)."""


@dataclass
class _Lane:
    pending: list[InboundMessage] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    turn: asyncio.Task[None] | None = None


class Dispatcher:
    """Routes inbound messages into per-session lanes and runs turns under a global cap."""

    def __init__(
        self,
        handler: TurnHandler,
        *,
        mode: LaneMode,
        max_concurrent: int,
        is_barrier: Callable[[InboundMessage], bool] = lambda _m: False,
    ) -> None:
        self._handler = handler
        self._mode = mode
        self._slots = asyncio.Semaphore(max_concurrent)
        self._is_barrier = is_barrier
        self._lanes: dict[SessionKey, _Lane] = {}
        self._closed = False

    @property
    def active_lanes(self) -> int:
        """Lanes with a worker (a turn running or waiting)."""
        return len(self._lanes)

    @property
    def queue_depth(self) -> int:
        """Messages waiting for their lane."""
        return sum(len(lane.pending) for lane in self._lanes.values())

    async def submit(self, message: InboundMessage) -> None:
        """Accept ``message`` into its session's lane."""
        if self._closed:
            raise DispatcherClosedError("dispatcher is closed")
        lane = self._lanes.get(message.key)
        if lane is None:
            lane = self._lanes[message.key] = _Lane()
        lane.pending.append(message)
        running = lane.turn is not None and not lane.turn.done()
        if self._mode == "interrupt" and running and not self._is_barrier(message):
            assert lane.turn is not None
            lane.turn.cancel()
        if lane.worker is None:
            lane.worker = asyncio.create_task(
                self._run_lane(message.key, lane), name=f"lane {message.key}"
            )

    async def aclose(self, grace_s: float) -> None:
        """Stop intake, let running turns finish within ``grace_s``, then cancel the rest."""
        self._closed = True
        workers = [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        if not workers:
            return
        for lane in self._lanes.values():
            lane.pending.clear()  # intake stopped: nothing new starts
        _done, still_running = await asyncio.wait(workers, timeout=grace_s)
        for task in still_running:
            task.cancel()
        await asyncio.gather(*still_running, return_exceptions=True)

    def _take(self, lane: _Lane) -> list[InboundMessage]:
        first = lane.pending.pop(0)
        if self._mode == "queue" or self._is_barrier(first):
            return [first]
        batch = [first]
        while lane.pending and not self._is_barrier(lane.pending[0]):
            batch.append(lane.pending.pop(0))
        return batch

    async def _run_lane(self, key: SessionKey, lane: _Lane) -> None:
        try:
            while lane.pending:
                batch = self._take(lane)
                async with self._slots:
                    await self._run_turn(key, lane, batch)
        finally:
            # No await between the empty check and removal: a concurrent submit sees either a
            # live worker or no lane at all.
            lane.worker = None
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _run_turn(self, key: SessionKey, lane: _Lane, batch: list[InboundMessage]) -> None:
        turn = asyncio.create_task(self._handler(batch), name=f"turn {key}")
        lane.turn = turn
        try:
            await asyncio.wait([turn])
        except asyncio.CancelledError:
            # The lane itself is being cancelled (shutdown): take the turn down with it.
            turn.cancel()
            await asyncio.gather(turn, return_exceptions=True)
            raise
        finally:
            lane.turn = None
        if turn.cancelled():
            log.info("turn interrupted, session %s", key)
        elif (exc := turn.exception()) is not None:
            log.error("turn failed, session %s", key, exc_info=exc)

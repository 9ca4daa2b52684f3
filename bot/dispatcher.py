"""One lane per session key: strict order within a thread, parallel across threads, bounded overall.

A lane is a worker task that exists while its session has work. What a message arriving mid-turn
does depends on the lane mode (DESIGN.md §4):

* ``queue``: it runs after the current turn, one turn per message;
* ``collect`` (default): everything that arrived while a turn ran becomes one next turn;
* ``interrupt``: the running turn is cancelled (it keeps what was said) and a new turn starts.

Messages for which ``is_barrier`` holds (commands) are never merged with others. Every task is owned:
lane workers by the dispatcher, turn tasks by their lane worker, and :meth:`Dispatcher.aclose`
awaits them all.

Back-pressure: a lane holds at most ``max_pending`` waiting messages (a flooded thread gets
:class:`LaneFullError` for the rest), and turns take a slot of their platform, so a platform that
answers slowly (rate limits, outages) holds its own slots only and never the other platforms'.
While :meth:`Dispatcher.hold` is in force (crash recovery at start), lanes fill but run nothing.
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


class LaneFullError(RuntimeError):
    """The message's lane already holds ``max_pending`` waiting messages (a flooded thread).

    Attributes:
        first: This is the first refusal since the lane last had room (tell the user once).
    """

    def __init__(self, key: SessionKey, *, first: bool) -> None:
        super().__init__(f"lane {key} is full")
        self.first = first


@dataclass
class _Lane:
    pending: list[InboundMessage] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    turn: asyncio.Task[None] | None = None
    flooded: bool = False  # messages were refused since the lane last had room


class Dispatcher:
    """Routes inbound messages into per-session lanes and runs turns under a global cap."""

    def __init__(
        self,
        handler: TurnHandler,
        *,
        mode: LaneMode,
        max_concurrent: int,
        is_barrier: Callable[[InboundMessage], bool] = lambda _m: False,
        max_pending: int | None = None,
    ) -> None:
        self._handler = handler
        self._mode = mode
        self._max_concurrent = max_concurrent
        self._slots: dict[str, asyncio.Semaphore] = {}  # per platform
        self._is_barrier = is_barrier
        self._max_pending = max_pending
        self._lanes: dict[SessionKey, _Lane] = {}
        self._closed = False
        self._released = asyncio.Event()
        self._released.set()
        self.refused = 0  # messages refused because their lane was full (``/metrics``)

    @property
    def active_lanes(self) -> int:
        """Lanes with a worker (a turn running or waiting)."""
        return len(self._lanes)

    def idle(self, key: SessionKey) -> bool:
        """No turn of session ``key`` runs or waits: a message for it would start one at once."""
        return key not in self._lanes

    @property
    def queue_depth(self) -> int:
        """Messages waiting for their lane."""
        return sum(len(lane.pending) for lane in self._lanes.values())

    async def submit(self, message: InboundMessage) -> None:
        """Accept ``message`` into its session's lane.

        Raises:
            DispatcherClosedError: Shutting down.
            LaneFullError: The lane already holds ``max_pending`` waiting messages.
        """
        if self._closed:
            raise DispatcherClosedError("dispatcher is closed")
        lane = self._lanes.get(message.key)
        if lane is None:
            lane = self._lanes[message.key] = _Lane()
        if self._max_pending is not None and len(lane.pending) >= self._max_pending:
            first, lane.flooded = not lane.flooded, True
            self.refused += 1
            raise LaneFullError(message.key, first=first)
        lane.pending.append(message)
        running = lane.turn is not None and not lane.turn.done()
        if self._mode == "interrupt" and running and not self._is_barrier(message):
            assert lane.turn is not None
            lane.turn.cancel()
        self._start(message.key, lane)

    def submit_first(self, messages: list[InboundMessage]) -> None:
        """Put ``messages`` (one session's, oldest first) ahead of whatever waits in their lane.

        For crash recovery under :meth:`hold`: what was accepted before the restart runs before
        what arrived since. The lane bound does not apply (these were accepted already).
        """
        if not messages:
            return
        if self._closed:
            raise DispatcherClosedError("dispatcher is closed")
        key = messages[0].key
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.pending[0:0] = messages
        self._start(key, lane)

    def hold(self) -> None:
        """Lanes take messages but start no turn until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        """Let the lanes run (the end of :meth:`hold`)."""
        self._released.set()

    def _start(self, key: SessionKey, lane: _Lane) -> None:
        if lane.worker is None:
            lane.worker = asyncio.create_task(self._run_lane(key, lane), name=f"lane {key}")

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
            batch = [first]
        else:
            batch = [first]
            while lane.pending and not self._is_barrier(lane.pending[0]):
                batch.append(lane.pending.pop(0))
        if self._max_pending is None or len(lane.pending) < self._max_pending:
            lane.flooded = False  # room again: a later flood is told about anew
        return batch

    def _slot(self, platform: str) -> asyncio.Semaphore:
        slot = self._slots.get(platform)
        if slot is None:
            slot = self._slots[platform] = asyncio.Semaphore(self._max_concurrent)
        return slot

    async def _run_lane(self, key: SessionKey, lane: _Lane) -> None:
        try:
            await self._released.wait()
            while lane.pending:
                batch = self._take(lane)
                async with self._slot(key.platform):
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

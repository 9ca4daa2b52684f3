"""The running service: pipeline → dispatcher → turns, and the shutdown order in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from agent.providers.base import ModelProvider
from bot.commands import Command, CommandHandler, parse_command
from bot.dispatcher import Dispatcher, LaneMode
from bot.health import Heartbeat
from bot.logs import log_context
from bot.metrics import Metrics
from bot.pipeline import Middleware, Next, compose
from bot.sessions import SessionPool
from bot.timeline import Timeline
from bot.turns import TurnRunner
from channels.base import Channel, InboundMessage

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side. Please try again."


class Runtime:
    """Owns the moving parts between the channels and the agent.

    Built by :func:`bot.wiring.open_runtime`, which also owns the store and the providers.
    """

    def __init__(
        self,
        *,
        channels: Mapping[str, Channel],
        middlewares: Sequence[Middleware],
        turns: TurnRunner,
        commands: CommandHandler,
        pool: SessionPool,
        providers: Mapping[str, ModelProvider],
        lane_mode: LaneMode,
        max_concurrent: int,
        grace_s: float,
        metrics: Metrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = channels
        self.pool = pool
        self.providers = providers
        self.metrics = metrics if metrics is not None else Metrics()
        self.health: Heartbeat | None = None  # set by the wiring once it is built around us
        self._turns = turns
        self._commands = commands
        self._grace_s = grace_s
        self._monotonic = monotonic
        self._accepting = False
        self._stopping = False
        self._started = monotonic()
        self._last_inbound: dict[str, float] = {}
        self.dispatcher = Dispatcher(
            self._handle,
            mode=lane_mode,
            max_concurrent=max_concurrent,
            is_barrier=lambda m: parse_command(m.text) is not None,
        )
        self._intake: Next = compose(middlewares, self._submit)
        # Messages accepted and not yet answered; shutdown waits for this to reach zero.
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.metrics.observe(self)

    @property
    def stopping(self) -> bool:
        """Shutdown has begun (``/readyz`` says so; the heartbeat stops alerting)."""
        return self._stopping

    @property
    def active_lanes(self) -> int:
        """Session lanes with a turn running or waiting."""
        return self.dispatcher.active_lanes

    @property
    def queue_depth(self) -> int:
        """Messages waiting for their lane."""
        return self.dispatcher.queue_depth

    @property
    def warm_sessions(self) -> int:
        """Sessions in memory."""
        return len(self.pool)

    @property
    def evictions(self) -> Mapping[str, int]:
        """Sessions dropped from memory since start, by reason."""
        return self.pool.evicted

    def inbound_age(self, platform: str) -> float:
        """Seconds since ``platform`` last delivered a message (since start if it never did)."""
        return self._monotonic() - self._last_inbound.get(platform, self._started)

    async def start(self) -> None:
        """Connect every channel; messages flow from here on."""
        self._accepting = True
        for channel in self.channels.values():
            await channel.start(self.intake)
            log.info("channel %s started", channel.name)

    async def intake(self, message: InboundMessage) -> None:
        """Entry point for adapters: one normalized message."""
        self._last_inbound[message.key.platform] = self._monotonic()
        with log_context(session=str(message.key)):
            if not self._accepting:
                log.info("shutting down: message %s not accepted", message.message_id)
                return
            await self._intake(message)

    async def aclose(self) -> None:
        """Shut down within ``grace_s``, in this order (the one place it is written down):

        1. channels that can pause stop fetching (Telegram stops polling and confirms only the
           updates it already handed over; later ones wait on Telegram for the next start);
        2. intake closes: anything still arriving is refused and logged;
        3. lanes run on, turns in flight and messages already accepted, until the deadline;
        4. what still runs then is cut: the reply ends with a "restarting" note and the partial
           turn is stored;
        5. channels disconnect.
        """
        if self._stopping:
            return
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace_s
        for channel in self.channels.values():
            pause = getattr(channel, "pause", None)
            if pause is None:
                continue
            try:
                async with asyncio.timeout_at(deadline):
                    await pause()
            except TimeoutError:
                log.warning("channel %s did not pause within the grace period", channel.name)
            except Exception:
                log.exception("channel %s did not pause cleanly", channel.name)
        self._accepting = False
        # The dispatcher drops queued messages when it closes; wait until everything accepted is
        # answered first, so that nothing a channel already confirmed is lost.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._idle.wait()
        self._turns.shutting_down()
        await self.dispatcher.aclose(max(0.0, deadline - loop.time()))
        for channel in self.channels.values():
            try:
                await channel.stop()
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)

    async def _submit(self, message: InboundMessage) -> None:
        await self.dispatcher.submit(message)  # raises when closed: then it was never accepted
        self._outstanding += 1
        self._idle.clear()

    async def _handle(self, batch: list[InboundMessage]) -> None:
        timeline = Timeline(batch[0].received_ns)
        timeline.stamp("dequeued")
        message = batch[-1]
        try:
            with log_context(session=str(message.key)):
                await self._answer(batch, timeline, parse_command(message.text))
        finally:
            self._outstanding -= len(batch)
            if self._outstanding <= 0:
                self._idle.set()

    async def _answer(
        self, batch: list[InboundMessage], timeline: Timeline, command: Command | None
    ) -> None:
        message = batch[-1]
        channel = self.channels[message.key.platform]
        try:
            if command is None:
                await self._turns.run(batch, timeline)
            else:
                await channel.notice(message, await self._commands.handle(command, message))
        except Exception as exc:
            # A bug or a store failure: the user hears about it, the lane and the service go on.
            log.exception("turn failed unexpectedly, session %s", message.key)
            self.metrics.count_error(exc)
            try:
                await channel.notice(message, SORRY)
            except Exception:
                log.exception("could not send the apology, session %s", message.key)

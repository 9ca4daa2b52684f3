"""The running service: pipeline → dispatcher → turns, and the shutdown order in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from agent.providers.base import ModelProvider
from bot.commands import Command, CommandHandler, parse_command
from bot.dispatcher import Dispatcher, LaneFullError, LaneMode
from bot.health import Heartbeat
from bot.inbox import Inbox
from bot.logs import log_context
from bot.metrics import Metrics
from bot.pipeline import Middleware, Next, compose
from bot.recovery import Recovery
from bot.sessions import SessionPool
from bot.timeline import Timeline
from bot.turns import TurnRunner
from channels.base import Channel, InboundMessage, Pausable

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side. Please try again."
FLOODED = (
    "⏳ Too many messages at once in this conversation: I'm still working through the earlier "
    "ones and skipped the rest. Please send again once I've answered."
)


class NotAcceptingError(RuntimeError):
    """Intake is closed (shutdown): the message stays in the inbox for the next start."""


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
        inbox: Inbox | None = None,
        recovery: Recovery | None = None,
        lane_queue: int | None = None,
    ) -> None:
        self.channels = channels
        self.pool = pool
        self.providers = providers
        self.metrics = metrics if metrics is not None else Metrics()
        self.health: Heartbeat | None = None  # set by the wiring once it is built around us
        self._turns = turns
        self._commands = commands
        self._inbox = inbox
        self._recovery = recovery
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
            max_pending=lane_queue,
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

    @property
    def refused(self) -> int:
        """Messages refused because their thread's lane was full."""
        return self.dispatcher.refused

    async def start(self) -> None:
        """Connect every channel; messages flow from here on.

        What the last run accepted and did not answer is read before the channels start and dealt
        with once they have (:mod:`bot.recovery`); until then lanes take messages but run nothing,
        so in every thread the older messages come first.
        """
        self._accepting = True
        self.dispatcher.hold()
        try:
            pending = await self._recovery.load() if self._recovery is not None else []
            for channel in self.channels.values():
                await channel.start(self.intake)
                log.info("channel %s started", channel.name)
            if self._recovery is not None and pending:
                await self._recovery.resolve(pending, self._submit_recovered)
        finally:
            self.dispatcher.release()

    def starts_at_once(self, message: InboundMessage) -> bool:
        """Whether ``message``, handed over now, would start a turn at once and alone: intake
        open, not a command, its lane idle."""
        return (
            self._accepting
            and parse_command(message.text) is None
            and self.dispatcher.idle(message.key)
        )

    async def intake(self, message: InboundMessage) -> None:
        """Entry point for adapters: one normalized message."""
        self._last_inbound[message.key.platform] = self._monotonic()
        with log_context(session=str(message.key)):
            if not self._accepting and self._inbox is None:
                log.info("shutting down: message %s not accepted", message.message_id)
                return
            # While shutting down, a message still goes as far as the inbox (the hand-over is
            # refused): Slack and Discord delivered it already, so the next start answers it.
            with contextlib.suppress(NotAcceptingError):
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
            if not isinstance(channel, Pausable):
                continue
            try:
                async with asyncio.timeout_at(deadline):
                    await channel.pause()
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
        if not self._accepting:
            log.info("shutting down: message %s kept for the next start", message.message_id)
            raise NotAcceptingError("intake is closed")
        try:
            await self.dispatcher.submit(message)  # raises when closed: never accepted then
        except LaneFullError as exc:
            log.warning("lane of %s is full: message %s refused", message.key, message.message_id)
            if exc.first:
                await self._tell(message, FLOODED)
            return  # not handed over: the dedupe settles it
        self._outstanding += 1
        self._idle.clear()
        if self._inbox is not None:
            self._inbox.hand_over(message)

    def _submit_recovered(self, messages: list[InboundMessage]) -> None:
        self.dispatcher.submit_first(messages)
        self._outstanding += len(messages)
        self._idle.clear()

    async def _tell(self, message: InboundMessage, text: str) -> None:
        try:
            await self.channels[message.key.platform].notice(message, text)
        except Exception:
            log.exception("could not send a notice, session %s", message.key)

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
                await self._settle(batch)
        except Exception as exc:
            # A bug or a store failure: the user hears about it, the lane and the service go on.
            log.exception("turn failed unexpectedly, session %s", message.key)
            self.metrics.count_error(exc)
            try:
                await channel.notice(message, SORRY)
            except Exception:
                log.exception("could not send the apology, session %s", message.key)
            await self._settle(batch)

    async def _settle(self, batch: list[InboundMessage]) -> None:
        """Mark ``batch`` answered in the inbox (a turn marks its own as it is stored)."""
        if self._inbox is None:
            return
        try:
            await self._inbox.settle(batch)
        except Exception:
            log.exception("could not settle inbox messages, session %s", batch[-1].key)

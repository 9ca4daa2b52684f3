"""The running service: pipeline → dispatcher → turns, and the shutdown order in one place."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from agent.providers.base import ModelProvider
from bot.commands import CommandHandler, parse_command
from bot.dispatcher import Dispatcher, LaneMode
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
    ) -> None:
        self.channels = channels
        self.pool = pool
        self.providers = providers
        self._turns = turns
        self._commands = commands
        self._grace_s = grace_s
        self._accepting = False
        self.dispatcher = Dispatcher(
            self._handle,
            mode=lane_mode,
            max_concurrent=max_concurrent,
            is_barrier=lambda m: parse_command(m.text) is not None,
        )
        self._intake: Next = compose(middlewares, self.dispatcher.submit)

    async def start(self) -> None:
        """Connect every channel; messages flow from here on."""
        self._accepting = True
        for channel in self.channels.values():
            await channel.start(self.intake)
            log.info("channel %s started", channel.name)

    async def intake(self, message: InboundMessage) -> None:
        """Entry point for adapters: one normalized message."""
        if not self._accepting:
            log.info("shutting down: message in %s not accepted", message.key)
            return
        await self._intake(message)

    async def aclose(self) -> None:
        """Stop intake, finish in-flight turns within the grace period, disconnect channels."""
        self._accepting = False
        await self.dispatcher.aclose(self._grace_s)
        for channel in self.channels.values():
            try:
                await channel.stop()
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)

    async def _handle(self, batch: list[InboundMessage]) -> None:
        timeline = Timeline(batch[0].received_ns)
        timeline.stamp("dequeued")
        message = batch[-1]
        channel = self.channels[message.key.platform]
        command = parse_command(message.text)
        try:
            if command is None:
                await self._turns.run(batch, timeline)
            else:
                await channel.notice(message, await self._commands.handle(command, message))
        except Exception:
            # A bug or a store failure: the user hears about it, the lane and the service go on.
            log.exception("turn failed unexpectedly, session %s", message.key)
            try:
                await channel.notice(message, SORRY)
            except Exception:
                log.exception("could not send the apology, session %s", message.key)

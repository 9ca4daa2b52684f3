"""An in-process channel for the benchmarks: the platform part without a platform.

It implements :class:`channels.base.Channel` as a platform adapter would, minus the network: a
message is stamped ``received`` when :meth:`BenchChannel.ask` hands it to the runtime, and text is
visible the moment the reply stream gets it. Item 4 of the benchmarks measures the real platform
adapters; this one isolates Hearth's own hot path.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from channels.base import Author, InboundMessage, Intake, SessionKey


@dataclass
class Outcome:
    """How one message was answered."""

    text: str = ""
    footer: str = ""
    notice: str = ""
    failed: bool = False
    received_ns: int = 0
    first_visible_ns: int | None = None
    done_ns: int = 0
    parts: list[str] = field(default_factory=list)


class BenchReply:
    """The reply stream of one benchmark message."""

    def __init__(self, outcome: Outcome, done: asyncio.Future[Outcome]) -> None:
        self._outcome = outcome
        self._done = done

    async def set_status(self, text: str) -> None:
        """Statuses cost nothing here."""

    async def append(self, text: str) -> bool:
        """Visible at once."""
        if self._outcome.first_visible_ns is None:
            self._outcome.first_visible_ns = time.perf_counter_ns()
        self._outcome.parts.append(text)
        return True

    async def finish(self, footer: str) -> None:
        """The answer is complete."""
        self._outcome.footer = footer
        self._settle()

    async def fail(self, notice: str) -> None:
        """The answer ended with a notice."""
        self._outcome.failed = True
        self._outcome.notice = notice
        self._settle()

    def _settle(self) -> None:
        self._outcome.text = "".join(self._outcome.parts)
        self._outcome.done_ns = time.perf_counter_ns()
        if not self._done.done():
            self._done.set_result(self._outcome)


class BenchChannel:
    """A :class:`channels.base.Channel` driven by the benchmark itself.

    Args:
        name: The platform name. Access control and limits apply only to platforms with a
            ``channels.<name>`` section, so the benchmarks register as ``telegram`` (with a
            section) to run the same middlewares a platform message meets.
        scope: The workspace part of the session keys.
    """

    def __init__(self, name: str = "telegram", scope: str = "bench") -> None:
        self.name = name
        self._scope = scope
        self._intake: Intake | None = None
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._ids = itertools.count(1)
        self.notices = 0

    def key(self, thread: str) -> SessionKey:
        """The session key of benchmark thread ``thread``."""
        return SessionKey(self.name, self._scope, thread)

    async def ask(self, thread: str, text: str, *, user: str | None = None) -> Outcome:
        """Send ``text`` in ``thread`` and wait for the complete answer."""
        if self._intake is None:
            raise RuntimeError("the benchmark channel is not started")
        message_id = str(next(self._ids))
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = done
        author = user or f"u{thread}"
        received = time.perf_counter_ns()
        message = InboundMessage(
            key=self.key(thread),
            message_id=message_id,
            author=Author(author, author),
            text=text,
            received_ns=received,
        )
        try:
            await self._intake(message)
            outcome = await done
        finally:
            del self._waiting[message_id]
        outcome.received_ns = received
        return outcome

    async def start(self, intake: Intake) -> None:
        """Messages flow into ``intake`` from now on."""
        self._intake = intake

    async def stop(self) -> None:
        """Release anyone still waiting."""
        self._intake = None
        for done in self._waiting.values():
            if not done.done():
                done.set_result(Outcome(failed=True, notice="channel stopped"))

    def open_reply(self, message: InboundMessage) -> BenchReply:
        """The stream that answers ``message``."""
        return BenchReply(Outcome(), self._future(message))

    async def notice(self, message: InboundMessage, text: str) -> None:
        """A command answer or an error: ends the wait for ``message``."""
        self.notices += 1
        done = self._future(message)
        if not done.done():
            done.set_result(Outcome(notice=text, failed=True, done_ns=time.perf_counter_ns()))

    async def send(self, key: SessionKey, text: str) -> None:
        """Unprompted messages (reminders) are not part of any benchmark."""

    @property
    def connected(self) -> bool:
        """Started and not stopped."""
        return self._intake is not None

    def _future(self, message: InboundMessage) -> asyncio.Future[Outcome]:
        done = self._waiting.get(message.message_id)
        if done is None:  # answered after the asker gave up: nobody waits for it
            done = asyncio.get_running_loop().create_future()
        return done

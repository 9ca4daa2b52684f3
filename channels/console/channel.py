"""A terminal chat through the very same pipeline as the platforms.

One line is one message; the next line is read once the reply to the previous one has finished, so
``printf 'hi\\nand again\\n' | hearth chat`` gives two turns, the second one warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import TextIO

from channels.base import Author, InboundMessage, Intake, SessionKey

log = logging.getLogger(__name__)

PROMPT = "you › "
SPEAKER = "hearth › "


async def stdin_lines(stream: TextIO | None = None) -> AsyncIterator[str]:
    """Lines of ``stream`` (stdin by default), read by a daemon thread so EOF or Ctrl-C never hang.

    Works for terminals, pipes and redirected files alike (an event-loop pipe reader does not
    accept regular files).
    """
    source = sys.stdin if stream is None else stream
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while the thread was reading
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        for line in source:
            put(line)
        put(None)

    threading.Thread(target=pump, name="console stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


class ConsoleChannel:
    """Reads messages from a line source and prints streamed replies."""

    name = "console"

    def __init__(
        self, lines: AsyncIterator[str], out: TextIO, *, user: str, interactive: bool
    ) -> None:
        self._lines = lines
        self._out = out
        self._user = user
        self._interactive = interactive
        # Ids must stay unique across runs: the store remembers accepted ids (dedupe).
        self._run = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._answered: dict[str, asyncio.Event] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self.replies = 0

    @property
    def key(self) -> SessionKey:
        """The console's one conversation: per local user."""
        return SessionKey("console", "local", self._user)

    async def start(self, intake: Intake) -> None:
        """Start reading lines into ``intake``."""
        self._reader = asyncio.create_task(self._read(intake), name="console reader")

    async def stop(self) -> None:
        """Stop reading; release anyone waiting for an answer."""
        for event in self._answered.values():
            event.set()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._closed.set()

    async def wait_closed(self) -> None:
        """Return once the input ended and the last reply was printed."""
        await self._closed.wait()

    def open_reply(self, message: InboundMessage) -> ConsoleReply:
        """A reply printed to the terminal as it streams."""
        return ConsoleReply(self, message.message_id)

    async def notice(self, message: InboundMessage, text: str) -> None:
        """Print a command answer or an error notice."""
        self.write(f"{self.speaker()}{text}\n\n")
        self.answered(message.message_id)

    async def send(self, key: SessionKey, text: str) -> None:
        """Print a message the bot sends on its own (a reminder)."""
        self.write(f"{self.speaker()}{text}\n\n")

    @property
    def connected(self) -> bool:
        """Reading input (until stdin ends)."""
        return self._reader is not None and not self._reader.done()

    def write(self, text: str) -> None:
        """Write and flush (the flush is what makes text visible)."""
        self._out.write(text)
        self._out.flush()

    def answered(self, message_id: str) -> None:
        """Mark the reply to ``message_id`` complete so the next line is read."""
        self.replies += 1
        event = self._answered.get(message_id)
        if event is not None:
            event.set()

    def speaker(self) -> str:
        """The label before an answer (interactive terminals only)."""
        return SPEAKER if self._interactive else ""

    async def _read(self, intake: Intake) -> None:
        try:
            if self._interactive:
                self.write(PROMPT)
            async for line in self._lines:
                text = line.strip()
                if not text:
                    continue
                message = InboundMessage(
                    key=self.key,
                    message_id=f"{self._run}-{next(self._ids)}",
                    author=Author(self._user, self._user),
                    text=text,
                    received_ns=time.perf_counter_ns(),
                )
                done = self._answered[message.message_id] = asyncio.Event()
                await intake(message)
                await done.wait()
                del self._answered[message.message_id]
                if self._interactive:
                    self.write(PROMPT)
        finally:
            self._closed.set()


class ConsoleReply:
    """The reply stream of one console message."""

    def __init__(self, channel: ConsoleChannel, message_id: str) -> None:
        self._channel = channel
        self._message_id = message_id
        self._started = False

    async def set_status(self, text: str) -> None:
        """Statuses are not printed: the terminal shows the answer as it arrives."""

    async def append(self, text: str) -> bool:
        """Print ``text`` at once; it is visible when the flush returns."""
        if not self._started:
            self._started = True
            self._channel.write(self._channel.speaker())
        self._channel.write(text)
        return True

    async def finish(self, footer: str) -> None:
        """End the answer with the footer line."""
        tail = f"\n{footer}\n\n" if footer else "\n\n"
        self._channel.write(tail if self._started else f"{self._channel.speaker()}(no text){tail}")
        self._channel.answered(self._message_id)

    async def fail(self, notice: str) -> None:
        """End the answer with a notice."""
        self._channel.write(f"\n{notice}\n\n" if self._started else f"{notice}\n\n")
        self._channel.answered(self._message_id)

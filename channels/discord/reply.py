"""A streamed answer on a platform without native streaming: post, then throttled edits.

The first message is posted as soon as the first visible text arrives; after that an owned pump task
brings the messages up to date, at most one write per message per ``edit_interval`` (Discord shares
about 5 writes per 5 s per channel, PLATFORM_NOTES §1.3), so text that arrives during a pause is
still flushed. Answers longer than a message continue in further messages (:mod:`.chunking`). A
typing indicator, renewed by another owned task, runs while the model or a tool works.

This module knows no SDK: it talks to a :class:`ReplyTarget`, which the adapter implements.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from channels.base import ChannelError, DeliveryListener
from channels.discord.chunking import MESSAGE_LIMIT, close_open_fence, split_message

log = logging.getLogger(__name__)

EMPTY_ANSWER = "(no text)"
FOOTER_PREFIX = "-# "  # Discord's subtext Markdown: the footer renders small and grey.


class PostedMessage(Protocol):
    """A message this reply posted."""

    async def edit(self, content: str) -> None:
        """Replace the message's content.

        Raises:
            ChannelError: The platform refused or could not be reached.
        """
        ...


@runtime_checkable
class IdentifiedMessage(Protocol):
    """A posted message that knows its platform id (what the delivery ledger records)."""

    @property
    def id(self) -> str:
        """The platform's id of the message."""
        ...


class ReplyTarget(Protocol):
    """Where a reply goes: a DM, a thread or a channel."""

    async def post(self, content: str) -> PostedMessage:
        """Post a new message.

        Raises:
            ChannelError: The platform refused or could not be reached.
        """
        ...

    async def typing(self) -> None:
        """Show the typing indicator once (it fades after a few seconds).

        Raises:
            ChannelError: The platform refused or could not be reached.
        """
        ...


def render_final(text: str, tail: str) -> str:
    """The finished answer: ``text``, code blocks closed, then ``tail`` on its own line."""
    body = close_open_fence(text.rstrip())
    if not body.strip():
        return tail or EMPTY_ANSWER
    return f"{body}\n{tail}" if tail else body


class StreamedReply:
    """One answer streamed into one or more messages (implements ``channels.base.ReplyStream``).

    Args:
        target: Where the messages go.
        edit_interval: Minimum seconds between two writes (post or edit) of the same message.
        typing_interval: Seconds between two typing indicators while working.
        limit: Maximum characters per message.
        on_close: Called once when the reply is closed (the adapter forgets it).
    """

    def __init__(
        self,
        target: ReplyTarget,
        *,
        edit_interval: float,
        typing_interval: float,
        limit: int = MESSAGE_LIMIT,
        on_close: Callable[[StreamedReply], None] | None = None,
    ) -> None:
        self._target = target
        self._edit_interval = edit_interval
        self._typing_interval = typing_interval
        self._limit = limit
        self._on_close = on_close
        self._text = ""
        self._tail: str | None = None  # set when finished: footer or failure notice ("" = none)
        self._posted: list[PostedMessage] = []
        self._shown: list[str] = []
        self._written_at: list[float] = []
        self._pump: asyncio.Task[None] | None = None
        self._typing: asyncio.Task[None] | None = None
        self._error: ChannelError | None = None
        self._closed = False
        self._lock = asyncio.Lock()  # one platform write at a time, so no message is posted twice
        self._listener: DeliveryListener | None = None

    def report_to(self, listener: DeliveryListener) -> None:
        """Tell ``listener`` the id of every message this reply posts (the delivery ledger)."""
        self._listener = listener

    async def set_status(self, text: str) -> None:
        """Show the typing indicator until text arrives (Discord has no status text)."""
        if self._closed or (self._typing is not None and not self._typing.done()):
            return
        log.debug("typing: %s", text)
        self._typing = asyncio.create_task(self._keep_typing(), name="discord typing")

    async def append(self, text: str) -> bool:
        """Add answer text: the first visible text is posted at once, the rest by the pump.

        Raises:
            ChannelError: An earlier or this write failed; the reply is closed.
        """
        await self._raise_if_failed()
        if self._closed:  # replaced by a notice, or the channel stopped
            return bool(self._posted)
        self._text += text
        await self._stop_typing()  # the model is talking now; the message itself shows progress
        if self._posted:
            self._kick()
        elif self._text.strip():
            try:
                async with self._lock:
                    await self._write_next()  # the first post: no throttle applies yet
            except ChannelError as exc:
                self._error = exc
                await self._raise_if_failed()
        return bool(self._posted)

    async def finish(self, footer: str) -> None:
        """Write the whole answer with ``footer`` as subtext on its own line, then close.

        Raises:
            ChannelError: A write failed.
        """
        await self._end(f"{FOOTER_PREFIX}{footer}" if footer else "")

    async def fail(self, notice: str) -> None:
        """End the answer with ``notice`` under whatever was shown, then close.

        Raises:
            ChannelError: A write failed.
        """
        await self._end(f"\n{notice}" if self._text.strip() else notice)

    async def close(self) -> None:
        """Stop the pump and the typing indicator without writing anything more."""
        if self._closed:
            return
        self._closed = True
        await _cancel(self._pump)
        await _cancel(self._typing)
        if self._on_close is not None:
            self._on_close(self)

    # -- internals ------------------------------------------------------------------------------

    async def _end(self, tail: str) -> None:
        await self._stop_typing()
        if self._closed:
            await self._raise_if_failed()
            return
        self._tail = tail
        self._kick()
        try:
            if self._pump is not None:
                await self._pump
        finally:
            await self.close()
        if self._error is not None:
            raise self._error

    def _chunks(self) -> list[str]:
        text = self._text if self._tail is None else render_final(self._text, self._tail)
        return split_message(text, self._limit)

    def _next_write(self) -> tuple[int, str] | None:
        """The first message that does not show what it should, and what it should show."""
        for index, content in enumerate(self._chunks()):
            if index >= len(self._shown) or self._shown[index] != content:
                return index, content
        return None

    def _kick(self) -> None:
        if self._closed or self._error is not None:
            return
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="discord reply pump")

    async def _run_pump(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                async with self._lock:
                    step = self._next_write()
                    if step is None:
                        return
                    index, _ = step
                    due = (
                        self._written_at[index] + self._edit_interval
                        if index < len(self._written_at)
                        else 0.0
                    )
                    if due <= loop.time():
                        await self._write_next()
                        continue
                # The per-message edit throttle; text arriving meanwhile joins this edit.
                await asyncio.sleep(due - loop.time())
        except ChannelError as exc:
            log.warning("discord reply write failed: %s", exc)
            self._error = exc

    async def _write_next(self) -> None:
        """Bring the first out-of-date message up to date (one platform call)."""
        step = self._next_write()
        if step is None:
            return
        index, content = step
        if index < len(self._posted):
            await self._posted[index].edit(content)
            self._shown[index] = content
            self._written_at[index] = asyncio.get_running_loop().time()
            return
        posted = await self._target.post(content)
        self._posted.append(posted)
        self._shown.append(content)
        self._written_at.append(asyncio.get_running_loop().time())
        if self._listener is not None and isinstance(posted, IdentifiedMessage):
            self._listener.posted(posted.id)

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._target.typing()
            except ChannelError as exc:  # cosmetic: the answer still comes
                log.info("discord typing indicator failed: %s", exc)
            await asyncio.sleep(self._typing_interval)

    async def _stop_typing(self) -> None:
        task, self._typing = self._typing, None
        await _cancel(task)

    async def _raise_if_failed(self) -> None:
        if self._error is not None:
            await self.close()
            raise self._error


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it; a cancellation of the caller still propagates."""
    if task is None:
        return
    task.cancel()
    [outcome] = await asyncio.gather(task, return_exceptions=True)
    if isinstance(outcome, Exception):
        log.error("discord reply task failed", exc_info=outcome)

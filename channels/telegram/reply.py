"""One reply on its way to a Telegram chat.

Private chats stream through ``sendMessageDraft`` (an animated, ephemeral preview) and end with one
``sendMessage`` that persists the answer, as the Bot API requires (PLATFORM_NOTES.md §1.2). Groups
get a ``sendMessage`` as soon as there is text, then ``editMessageText`` at most once per
``edit_interval`` per chat, and a last edit with the footer. Every render is the whole text so far
(:mod:`.formatting`), split at 4096 characters (:mod:`.chunking`): parts that are complete are
persisted as messages of their own while the rest keeps streaming.

The stream owns two tasks: a flusher that shows pending text when the throttle allows (so text
appears even when the model pauses) and an indicator that renews "typing…" while the bot works.
Both end in :meth:`finish`, :meth:`fail` or :meth:`abandon`. Platform calls are serialized by one
lock, and the tasks are only ever cancelled while that lock is held by the canceller or outside a
call, so a message is never half-sent by a cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator, MutableSet
from dataclasses import dataclass

from channels.base import ChannelError, DeliveryListener
from channels.telegram.bot_api import BotApi, Target
from channels.telegram.chunking import MAX_MESSAGE_LENGTH, Chunk, split_tokens
from channels.telegram.formatting import Text, markdown_tokens
from channels.telegram.pacing import FloodBudget, Pacer

log = logging.getLogger(__name__)

NO_TEXT = "(no text)"


def render(text: str, tail: str, limit: int = MAX_MESSAGE_LENGTH) -> list[Chunk]:
    """The messages of an answer: ``text`` (Markdown) with ``tail`` under it, split at ``limit``.

    The final form of a reply, and what :meth:`TelegramChannel.finalize` restores after a crash.
    """
    tokens = markdown_tokens(text)
    if tail:
        tokens.append(Text(f"\n\n{tail}" if tokens else tail))
    return split_tokens(tokens, limit)


@dataclass(frozen=True, slots=True)
class Timings:
    """Throttles of a reply, in seconds (from ``channels.telegram``)."""

    draft_interval: float
    edit_interval: float
    typing_interval: float


@dataclass(slots=True)
class _Part:
    """A message this reply has persisted, with the HTML it shows."""

    message_id: int
    html: str


class TelegramReply:
    """The :class:`~channels.base.ReplyStream` of one Telegram answer."""

    def __init__(
        self,
        api: BotApi,
        target: Target,
        timings: Timings,
        pacer: Pacer,
        draft_ids: Iterator[int],
        *,
        registry: MutableSet[TelegramReply] | None = None,
        limit: int = MAX_MESSAGE_LENGTH,
        budget: FloodBudget | None = None,
    ) -> None:
        self._api = api
        self._budget = budget if budget is not None else FloodBudget()
        self._target = target
        self._timings = timings
        self._pacer = pacer
        self._draft_ids = draft_ids
        self._draft_id = next(draft_ids)
        self._registry = registry
        self._limit = limit
        self._interval = timings.draft_interval if target.private else timings.edit_interval
        self._text: list[str] = []
        self._version = 0
        self._shown_version = 0
        self._next_flush_at = 0.0
        self._parts: list[_Part] = []
        self._visible = False
        self._working = False
        self._closed = False
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._kick = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._indicator: asyncio.Task[None] | None = None
        self._listener: DeliveryListener | None = None
        if registry is not None:
            registry.add(self)

    def report_to(self, listener: DeliveryListener) -> None:
        """Tell ``listener`` about every message this reply persists (the delivery ledger);
        drafts are ephemeral and not reported."""
        self._listener = listener

    @property
    def message_ids(self) -> list[int]:
        """Ids of the messages persisted so far."""
        return [part.message_id for part in self._parts]

    async def set_status(self, text: str) -> None:
        """Show that the bot is working: "typing…" (and the "Thinking…" draft in private chats).

        Telegram has no free-text status for bots, so ``text`` itself is not shown.
        """
        if self._closed:
            return
        if not self._working:
            self._working = True
            self._kick.set()
        if self._indicator is None:
            self._indicator = asyncio.create_task(
                self._indicate(), name=f"telegram typing {self._target.chat_id}"
            )

    async def append(self, text: str) -> bool:
        """Add answer text; the first text is shown at once, later text when the throttle allows.

        Returns:
            Whether any answer text is visible to the user by now.
        """
        if self._closed or not text:
            return self._visible
        self._text.append(text)
        self._version += 1
        self._working = False
        if self._flusher is None:
            self._flusher = asyncio.create_task(
                self._flush_loop(), name=f"telegram flush {self._target.chat_id}"
            )
        now = asyncio.get_running_loop().time()
        if not self._visible and now >= self._next_flush_at:
            # The first paint goes out inline: its return is what stamps first_visible (TTFT).
            async with self._lock:
                if not self._closed and not self._visible:
                    await self._flush()
        if self._version != self._shown_version:
            self._wake.set()
        return self._visible

    async def finish(self, footer: str) -> None:
        """Persist the whole answer with ``footer`` under it.

        Raises:
            ChannelError: The answer could not be delivered.
        """
        await self._close(footer)

    async def fail(self, notice: str) -> None:
        """Persist what was said so far followed by ``notice``.

        Raises:
            ChannelError: The notice could not be delivered.
        """
        await self._close(notice)

    async def abandon(self) -> None:
        """Stop the stream's tasks without delivering anything (the channel is stopping)."""
        self._closed = True
        await self._stop_tasks()

    # -- internals ------------------------------------------------------------------------------

    async def _close(self, tail: str) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self._stop_tasks()
                chunks = self._render(tail)
                if not any(chunk.plain.strip() for chunk in chunks):
                    chunks = self._render(tail, fallback=NO_TEXT)
                await self._show(chunks, final=True)
            finally:
                if self._registry is not None:
                    self._registry.discard(self)

    def _render(self, tail: str = "", *, fallback: str = "") -> list[Chunk]:
        return render("".join(self._text) or fallback, tail, self._limit)

    async def _flush(self) -> None:
        """Show the text so far (best-effort; the caller holds the lock)."""
        version = self._version
        loop = asyncio.get_running_loop()
        chunks = self._render()
        if not chunks[0].plain.strip():
            return  # e.g. only an opening code fence so far: nothing to read yet
        try:
            await self._show(chunks, final=False)
        except ChannelError as exc:
            # Flood control or a transient failure: the next flush carries the same text and more.
            log.info("telegram streaming update deferred: %s", exc)
            self._next_flush_at = loop.time() + (exc.retry_after or self._interval)
            return
        self._shown_version = version
        self._next_flush_at = loop.time() + self._interval

    async def _show(self, chunks: list[Chunk], *, final: bool) -> None:
        drafting = self._target.private and not final
        complete = chunks[:-1] if drafting else chunks
        for index, chunk in enumerate(complete):
            await self._put(index, chunk, sure=final)
        if drafting:
            await self._api.draft(self._target, self._draft_id, chunks[-1])
            self._visible = True

    async def _put(self, index: int, chunk: Chunk, *, sure: bool) -> None:
        """Make message part ``index`` show ``chunk``: edit it, or post it when it is new."""
        chat = self._target.chat_id
        if index < len(self._parts):
            part = self._parts[index]
            if part.html == chunk.html:
                return
            await self._pacer.wait(chat)
            await self._budget.acquire(chat, group=not self._target.private, sure=sure)
            try:
                await self._api.edit(self._target, part.message_id, chunk, sure=sure)
            finally:
                # Spaced from when this call ended, so the platform sees the interval at arrival too.
                self._pacer.note(chat)
            part.html = chunk.html
            return
        await self._budget.acquire(chat, group=not self._target.private, sure=sure)
        message_id = await self._api.send(self._target, chunk, reply=index == 0, sure=sure)
        self._parts.append(_Part(message_id, chunk.html))
        self._visible = True
        if self._listener is not None:
            self._listener.posted(str(message_id))
        self._pacer.note(chat)
        # The text after this part streams as a new draft (the sent message replaced this one).
        self._draft_id = next(self._draft_ids)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._next_flush_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._lock:
                if self._closed:
                    return
                if self._version != self._shown_version:
                    await self._flush()
            if self._version != self._shown_version:
                self._wake.set()  # deferred: try again once the postponement is over

    async def _indicate(self) -> None:
        placeholder = self._target.private
        while True:
            if self._working:
                if placeholder and not self._visible:
                    placeholder = False
                    async with self._lock:
                        if not self._visible and not self._closed:
                            await self._quietly(self._api.draft(self._target, self._draft_id, None))
                await self._quietly(self._api.typing(self._target))
            self._kick.clear()
            # "typing…" lasts about 5 s (sendChatAction docstring), so it is renewed before that.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self._timings.typing_interval)

    @staticmethod
    async def _quietly(call: Awaitable[None]) -> None:
        try:
            await call
        except ChannelError as exc:
            log.debug("telegram status update skipped: %s", exc)

    async def _stop_tasks(self) -> None:
        tasks = [task for task in (self._flusher, self._indicator) if task is not None]
        self._flusher = self._indicator = None
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("telegram reply task failed", exc_info=result)

"""One answer on its way into a Slack thread.

``native`` streaming: the first text goes out at once with ``chat.startStream`` (a small first
flush, so the first token is visible immediately), later text with ``chat.appendStream`` at most
once per ``stream_interval`` per message, and ``chat.stopStream`` ends the message with the TTFT
footer as a context block. A stream older than ``stream_rotation`` continues in a new message
before Slack's undocumented ~5-minute lifetime ends it (PLATFORM_NOTES §1.1). Should it end anyway
(``message_not_in_streaming_state``), the same message is brought up to date with ``chat.update``
from then on, so the user still sees the whole answer once; if even that is refused, the message
keeps what it had and the rest continues in a new one. When Slack refuses to stream at all, the
reply falls back to ``edit`` mode.

``edit`` mode: ``chat.postMessage`` with the first text, then ``chat.update`` at most once per
``edit_interval`` per message and within the workspace's budget, in mrkdwn; the final update has
the answer in section blocks and the footer in a context block.

Answers longer than :data:`~channels.slack.chunking.MESSAGE_LIMIT` continue in further messages in
the thread. ``assistant.threads.setStatus`` shows "is thinking…" (or the tool in use) meanwhile.

The reply owns two tasks, a flusher (text that arrives while a write must wait is still shown) and
a status sender; both end in :meth:`finish`, :meth:`fail` or :meth:`abandon`. Platform writes are
serialized by one lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from channels.base import ChannelError, DeliveryListener
from channels.slack.chunking import MESSAGE_LIMIT, SECTION_LIMIT, cut_point, split_text
from channels.slack.mrkdwn import close_fence, escape, to_mrkdwn
from channels.slack.pacing import Budgets
from channels.slack.web_api import (
    Block,
    SlackApi,
    SlackRefusedError,
    StreamExpiredError,
    context_block,
    quietly,
    section_blocks,
)

log = logging.getLogger(__name__)

EMPTY_ANSWER = "(no text)"
FINAL_ATTEMPTS = 3
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where a reply goes: a thread, and who it answers (the stream's recipient)."""

    channel: str
    thread_ts: str
    team_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Timings:
    """How a reply streams (from ``channels.slack``), in seconds."""

    native: bool
    stream_interval: float
    stream_rotation: float
    edit_interval: float


@dataclass(slots=True)
class _Part:
    """One message of the answer, covering ``text[start:end]`` of it so far."""

    ts: str
    start: int
    end: int
    streaming: bool
    opened_at: float
    written_at: float
    shown: str = ""
    done: bool = False
    recovered: bool = False  # a stream that ended early, now kept up to date by chat.update


class SlackReply:
    """The :class:`~channels.base.ReplyStream` of one Slack answer."""

    def __init__(
        self,
        api: SlackApi,
        target: Target,
        timings: Timings,
        budgets: Budgets,
        *,
        limit: int = MESSAGE_LIMIT,
        on_close: Callable[[SlackReply], None] | None = None,
    ) -> None:
        self._api = api
        self._target = target
        self._timings = timings
        self._budgets = budgets
        self._limit = limit
        self._on_close = on_close
        self._native = timings.native
        self._text = ""
        self._synced = 0  # length of the text that is shown (or waits for nothing)
        self._parts: list[_Part] = []
        self._footer_shown = False
        self._next_at = 0.0
        self._visible = False
        self._closed = False
        self._status = ""
        self._status_shown = False  # a status is up that no message of ours has cleared yet
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._status_wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._listener: DeliveryListener | None = None

    def report_to(self, listener: DeliveryListener) -> None:
        """Tell ``listener`` the ``ts`` of every message this reply opens (the delivery ledger)."""
        self._listener = listener

    async def set_status(self, text: str) -> None:
        """Show ``text`` ("is thinking…", "is using time…") under the thread, in the background."""
        if self._closed:
            return
        self._status = text
        self._status_wake.set()
        if self._status_task is None:
            self._status_task = asyncio.create_task(
                self._send_status(), name=f"slack status {self._target.thread_ts}"
            )

    async def append(self, text: str) -> bool:
        """Add answer text: the first text is shown at once, later text when pacing allows.

        Returns:
            Whether any answer text is visible to the user by now.
        """
        if self._closed or not text:
            return self._visible
        self._text += text
        if not self._visible:
            async with self._lock:
                if not self._closed and not self._visible:
                    await self._sync(final=False)
        if self._flusher is None:
            self._flusher = asyncio.create_task(
                self._flush_loop(), name=f"slack flush {self._target.thread_ts}"
            )
        self._wake.set()
        return self._visible

    async def finish(self, footer: str) -> None:
        """Show the whole answer with ``footer`` in a context block under it.

        Raises:
            ChannelError: The answer could not be delivered.
        """
        await self._close("", footer)

    async def fail(self, notice: str) -> None:
        """Show what was said so far followed by ``notice``.

        Raises:
            ChannelError: The notice could not be delivered.
        """
        await self._close(notice, "")

    async def abandon(self) -> None:
        """Stop without delivering more (the channel stops, or a notice replaces the answer);
        a live stream is ended so it does not hang in the streaming state."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            await self._stop_tasks()
            part = self._parts[-1] if self._parts else None
            if part is not None and part.streaming:
                part.streaming = False
                await quietly(self._api.stop_stream(self._target.channel, part.ts, None), "stop")
            self._forget()

    # -- laying out the answer --------------------------------------------------------------------

    async def _close(self, notice: str, footer: str) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self._stop_tasks()
                if notice:
                    body = self._text.rstrip()
                    self._text = f"{body}\n\n{notice}" if body.strip() else notice
                if not self._text.strip():
                    self._text = EMPTY_ANSWER
                await self._sync(final=True, footer=footer)
                if self._status_shown:
                    target = self._target
                    await quietly(
                        self._api.set_status(target.channel, target.thread_ts, ""), "clear"
                    )
            finally:
                self._forget()

    async def _sync(self, *, final: bool, footer: str = "") -> None:
        """Bring the messages up to the text so far (the caller holds the lock).

        Not final: best effort; a write that has to wait is left to the flusher (``_next_at``).
        Final: every write is made, waiting out pacing and rate limits (bounded), and ``footer``
        goes under the last message.
        """
        loop = asyncio.get_running_loop()
        goal = len(self._text)
        attempts = 0
        # Each step opens, fills or ends a message, so this many steps always suffice.
        for _ in range(8 + 4 * (goal // self._limit + 1)):
            try:
                if not await self._step(final, footer):
                    if self._next_at <= loop.time():
                        self._synced = goal
                    return
            except ChannelError as exc:
                if not final:
                    log.info("slack reply update deferred: %s", exc)
                    self._next_at = loop.time() + (exc.retry_after or self._interval())
                    return
                attempts += 1
                if exc.retry_after is None or attempts >= FINAL_ATTEMPTS:
                    raise
                await asyncio.sleep(min(exc.retry_after, MAX_RETRY_AFTER_S))
        raise ChannelError("slack reply: the answer could not be laid out")

    async def _step(self, final: bool, footer: str) -> bool:
        """One write towards the goal; returns whether another step is needed."""
        part = self._parts[-1] if self._parts else None
        if part is None or part.done:
            start = part.end if part is not None else 0
            if self._text[start:].strip():
                await self._open(start, final)
                return True
            if final and part is not None and footer and not self._footer_shown:
                await self._complete(part, part.end - part.start, footer)  # footer only
            return False
        if part.streaming:
            return await self._stream_step(part, final, footer)
        return await self._edit_step(part, final, footer)

    async def _open(self, start: int, final: bool) -> None:
        body = self._text[start:]
        cut = cut_point(body, self._limit)
        target, loop = self._target, asyncio.get_running_loop()
        if self._native:
            wait = self._budgets.starts.delay(target.team_id)
            if wait > 0 and not final:
                raise ChannelError("slack chat.startStream budget: waiting", retry_after=wait)
            await self._budgets.starts.acquire(target.team_id)
            try:
                ts = await self._api.start_stream(
                    target.channel,
                    target.thread_ts,
                    body[:cut],
                    team_id=target.team_id,
                    user_id=target.user_id,
                )
            except SlackRefusedError as exc:
                log.warning(
                    "slack refused to stream (%s); answering with post + chat.update instead "
                    "(set channels.slack.streaming: edit to skip the attempt)",
                    exc.code,
                )
                self._native = False
                return
            # Intervals count from when a write returned, so Slack sees them on arrival too.
            now = loop.time()
            self._parts.append(_Part(ts, start, start + cut, True, now, now))
        else:
            partial = not final or cut < len(body)
            shown = self._render(body[:cut], partial=partial)
            ts = await self._api.post(target.channel, target.thread_ts, shown)
            now = loop.time()
            self._parts.append(_Part(ts, start, start + cut, False, now, now, shown))
        self._visible = True
        self._status_shown = False  # Slack clears the status when the app replies in the thread
        if self._listener is not None:
            self._listener.posted(ts)

    async def _stream_step(self, part: _Part, final: bool, footer: str) -> bool:
        target, loop = self._target, asyncio.get_running_loop()
        pending = self._text[part.end :]
        room = self._limit - (part.end - part.start)
        try:
            if len(pending) > room:  # the message is full: end it, the rest continues below
                cut = cut_point(pending, room)
                await self._api.stop_stream(target.channel, part.ts, pending[:cut])
                part.end += cut
                part.streaming, part.done = False, True
                return True
            if final:
                blocks = [context_block(escape(footer))] if footer else []
                await self._api.stop_stream(target.channel, part.ts, pending, blocks)
                part.end += len(pending)
                part.streaming, part.done = False, True
                self._footer_shown = bool(footer)
                return False
            if not pending:
                return False
            now = loop.time()
            if now - part.opened_at >= self._timings.stream_rotation:
                await self._api.stop_stream(target.channel, part.ts, None)
                part.streaming, part.done = False, True
                return True
            wait = max(
                part.written_at + self._timings.stream_interval - now,
                self._budgets.appends.delay(target.team_id),
            )
            if wait > 0:
                self._next_at = now + wait
                return False
            self._budgets.appends.take(target.team_id)
            await self._api.append_stream(target.channel, part.ts, pending)
            part.end += len(pending)
            part.written_at = loop.time()
            return False
        except (StreamExpiredError, SlackRefusedError) as exc:
            # Expired (the ~5 min lifetime), or refused for another reason (deleted, bad chunk):
            # the message is brought up to date with chat.update instead.
            log.info("slack stream %s ended early (%s); continuing with chat.update", part.ts, exc)
            part.streaming, part.recovered, part.written_at = False, True, 0.0
            return True

    async def _edit_step(self, part: _Part, final: bool, footer: str) -> bool:
        body = self._text[part.start :]
        cut = cut_point(body, self._limit)
        if final or cut < len(body):
            return await self._complete(part, cut, footer if cut == len(body) else "")
        shown = self._render(body, partial=True)
        if shown == part.shown:
            part.end = part.start + cut
            return False
        now = asyncio.get_running_loop().time()
        wait = max(
            part.written_at + self._timings.edit_interval - now,
            self._budgets.edits.delay(self._target.team_id),
        )
        if wait > 0:
            self._next_at = now + wait
            return False
        self._budgets.edits.take(self._target.team_id)
        await self._update(part, shown, None)
        part.end = part.start + cut
        return False

    async def _complete(self, part: _Part, cut: int, footer: str) -> bool:
        """Write ``part``'s final form (the first ``cut`` characters from its start) and end it."""
        # Trailing blank lines (a paragraph break where the answer continues below) show nothing.
        body = self._text[part.start : part.start + cut].rstrip()
        shown = self._render(body, partial=False)
        blocks = section_blocks(split_text(shown, SECTION_LIMIT))
        if footer:
            blocks.append(context_block(escape(footer)))
        await self._budgets.edits.acquire(self._target.team_id)
        wait = part.written_at + self._timings.edit_interval - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await self._update(part, shown, blocks)
        except SlackRefusedError as exc:
            if not part.recovered:
                raise
            # The ended stream cannot be edited either: it keeps what it showed, and the rest of
            # the answer continues in a new message.
            log.warning("slack stream %s could not be updated (%s); continuing below", part.ts, exc)
            part.done = True
            return True
        part.end = part.start + cut
        part.done = True
        self._footer_shown = bool(footer)
        return part.end < len(self._text)

    async def _update(self, part: _Part, shown: str, blocks: list[Block] | None) -> None:
        await self._api.update(self._target.channel, part.ts, shown, blocks)
        part.shown = shown
        part.written_at = asyncio.get_running_loop().time()

    @staticmethod
    def _render(markdown: str, *, partial: bool) -> str:
        return to_mrkdwn(close_fence(markdown) if partial else markdown)

    def _interval(self) -> float:
        timings = self._timings
        return timings.stream_interval if self._native else timings.edit_interval

    # -- owned tasks ------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._lock:
                if self._closed:
                    return
                await self._sync(final=False)
                if self._synced < len(self._text):
                    self._wake.set()  # deferred: try again once the wait is over

    async def _send_status(self) -> None:
        target, shown = self._target, ""
        while True:
            await self._status_wake.wait()
            self._status_wake.clear()
            status = self._status
            if status and status != shown:
                await quietly(
                    self._api.set_status(target.channel, target.thread_ts, status), "status"
                )
                shown = status
                self._status_shown = True

    async def _stop_tasks(self) -> None:
        tasks = [task for task in (self._flusher, self._status_task) if task is not None]
        self._flusher = self._status_task = None
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("slack reply task failed", exc_info=result)

    def _forget(self) -> None:
        if self._on_close is not None:
            self._on_close(self)

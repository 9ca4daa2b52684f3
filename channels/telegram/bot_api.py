"""The Bot API calls a reply makes, with PTB's exceptions translated into ours in one place.

Policy here: a 429 ``retry_after`` holds every call to that chat until it has passed; a call that
must land waits and retries (bounded), a best-effort one (a streaming update the next flush
supersedes) is refused at once with :class:`ChannelError` ``retry_after``; HTML that Telegram cannot parse is sent
again as plain text rather than losing the reply; an edit to identical content is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from channels.base import ChannelError
from channels.telegram.chunking import Chunk

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 4
MAX_RETRY_AFTER_S = 60.0
_PRUNE_AT = 1024


class NotModifiedError(ChannelError):
    """``editMessageText`` with the content the message already has."""


class MarkupError(ChannelError):
    """Telegram could not parse the HTML ("can't parse entities")."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a reply goes.

    Attributes:
        chat_id: The chat.
        thread_id: Forum topic (``message_thread_id``), sent on every call; None outside topics.
        reply_to: The user's message the first part answers (groups), or None.
        private: A private chat: drafts are available there only.
    """

    chat_id: int
    thread_id: int | None
    reply_to: int | None
    private: bool


def translate(error: TelegramError) -> ChannelError:
    """The one place where PTB exceptions become ours.

    The Bot API distinguishes 400s only by their ``description`` (there are no sub-codes), so the
    two that change what we do are recognised by their text, here and nowhere else.
    """
    if isinstance(error, RetryAfter):
        return ChannelError(f"telegram flood control: {error}", retry_after=retry_after_s(error))
    if isinstance(error, BadRequest):
        description = error.message.lower()
        if "message is not modified" in description:
            return NotModifiedError(error.message)
        if "can't parse entities" in description:
            return MarkupError(error.message)
    return ChannelError(f"telegram: {type(error).__name__}: {error.message}")


def retry_after_s(error: RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type PTB hands out.

    PTB 22 returns an int and warns unless ``PTB_TIMEDELTA`` is set, in which case it returns a
    ``timedelta`` (``telegram/_utils/datetime.py:get_timedelta_value``); accept both, quietly.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class BotApi:
    """The calls of :class:`~channels.telegram.reply.TelegramReply`, over PTB's ``Bot``."""

    def __init__(self, bot: Bot, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self._bot = bot
        self._max_attempts = max_attempts
        self._held_until: dict[int, float] = {}  # chat id → loop time its flood wait ends

    async def send(self, target: Target, chunk: Chunk, *, reply: bool, sure: bool) -> int:
        """Post ``chunk`` as a new message; returns its id.

        Args:
            target: Where.
            chunk: What.
            reply: Quote ``target.reply_to`` (the first part of a group answer).
            sure: Wait out flood control (bounded) instead of raising at once.
        """
        parameters = None
        if reply and target.reply_to is not None:
            # The user may have deleted their message meanwhile: answer anyway.
            parameters = ReplyParameters(target.reply_to, allow_sending_without_reply=True)

        async def call(text: str, mode: str | None) -> int:
            message = await self._bot.send_message(
                target.chat_id,
                text,
                parse_mode=mode,
                message_thread_id=target.thread_id,
                reply_parameters=parameters,
            )
            return message.message_id

        return await self._with_fallback(target.chat_id, call, chunk, sure=sure)

    async def edit(self, target: Target, message_id: int, chunk: Chunk, *, sure: bool) -> None:
        """Replace the text of ``message_id``; identical content counts as done."""

        async def call(text: str, mode: str | None) -> None:
            await self._bot.edit_message_text(
                text, chat_id=target.chat_id, message_id=message_id, parse_mode=mode
            )

        with contextlib.suppress(NotModifiedError):
            await self._with_fallback(target.chat_id, call, chunk, sure=sure)

    async def draft(self, target: Target, draft_id: int, chunk: Chunk | None) -> None:
        """Show ``chunk`` as the chat's live draft, or the "Thinking…" placeholder for None.

        Drafts are best-effort (each one is superseded by the next): flood control raises at once.
        """
        if chunk is None:
            # Bot API 10.0: an empty text shows a "Thinking..." placeholder (PTB 22.8 docstring).
            await self._attempt(
                target.chat_id,
                lambda: self._bot.send_message_draft(
                    target.chat_id, draft_id, "", message_thread_id=target.thread_id
                ),
                sure=False,
            )
            return

        async def call(text: str, mode: str | None) -> None:
            await self._bot.send_message_draft(
                target.chat_id,
                draft_id,
                text,
                message_thread_id=target.thread_id,
                parse_mode=mode,
            )

        await self._with_fallback(target.chat_id, call, chunk, sure=False)

    async def typing(self, target: Target) -> None:
        """Show "typing…" for about 5 s (``sendChatAction`` docstring, ``_bot.py``)."""
        await self._attempt(
            target.chat_id,
            lambda: self._bot.send_chat_action(
                target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id
            ),
            sure=False,
        )

    async def _with_fallback(
        self,
        chat_id: int,
        call: Callable[[str, str | None], Awaitable[T]],
        chunk: Chunk,
        *,
        sure: bool,
    ) -> T:
        try:
            return await self._attempt(chat_id, lambda: call(chunk.html, ParseMode.HTML), sure=sure)
        except MarkupError as exc:
            log.warning("telegram refused our HTML (%s); sending plain text", exc)
            return await self._attempt(chat_id, lambda: call(chunk.plain, None), sure=sure)

    async def _attempt(self, chat_id: int, call: Callable[[], Awaitable[T]], *, sure: bool) -> T:
        """Make ``call``, honouring flood control for ``chat_id``.

        A 429 holds every call to that chat until its ``retry_after`` has passed: calls that must
        land wait (at most ``max_attempts`` tries), best-effort ones are refused at once.
        """
        loop = asyncio.get_running_loop()
        attempt = 1
        while True:
            held = self._held_until.get(chat_id, 0.0) - loop.time()
            if held > 0:
                if not sure:
                    raise ChannelError("telegram flood control: waiting", retry_after=held)
                log.info("telegram flood control: chat %s waits %.2f s", chat_id, held)
                await asyncio.sleep(held)
            try:
                return await call()
            except TelegramError as exc:
                error = translate(exc)
                wait = error.retry_after
                if wait is not None:
                    self._hold(chat_id, loop.time() + wait)
                give_up = not sure or attempt >= self._max_attempts
                if wait is None or give_up or wait > MAX_RETRY_AFTER_S:
                    raise error from exc
            attempt += 1

    def _hold(self, chat_id: int, until: float) -> None:
        self._held_until[chat_id] = until
        if len(self._held_until) > _PRUNE_AT:
            now = asyncio.get_running_loop().time()
            self._held_until = {k: v for k, v in self._held_until.items() if v > now}

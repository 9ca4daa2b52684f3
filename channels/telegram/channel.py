"""The Telegram channel: python-telegram-bot run inside our event loop.

PTB's ``run_polling``/``run_webhook`` own the loop and the signals, so the application is driven by
hand instead (PLATFORM_NOTES.md §2.3): ``initialize`` (``getMe``), then either
``updater.start_polling`` or ``setWebhook`` with a ``secret_token``, then ``start``; and in reverse
on stop. Updates are processed one at a time by PTB and only normalized and handed to ``intake``
here, which enqueues, so a long turn never holds up the update loop.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import Conflict, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from channels.base import ChannelError, InboundMessage, Intake, SessionKey
from channels.telegram.bot_api import BotApi, Target, translate
from channels.telegram.chunking import split_tokens
from channels.telegram.formatting import Text
from channels.telegram.normalize import PLATFORM, BotIdentity, normalize
from channels.telegram.pacing import FloodBudget, Pacer
from channels.telegram.reply import TelegramReply, Timings, render
from config import TelegramSettings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message",)
BOT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("new", "Start a fresh conversation here"),
    ("model", "Show or switch the model: /model <tier or provider:model>"),
    ("stats", "Time to first token, cache and cost figures of this conversation"),
    ("compact", "Fold older turns into a summary now"),
    ("reset", "Close your conversations here"),
    ("memory", "What I remember about you here"),
    ("forget", "Forget a memory: /forget <number> or /forget all"),
    ("help", "List the commands"),
)
"""The menu Telegram shows for "/" (admin-only commands such as /pair are left out: the menu is
the same for everyone)."""

_TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class TelegramChannel:
    """Telegram DMs, groups and forum topics through the Bot API."""

    name = PLATFORM

    def __init__(
        self, settings: TelegramSettings, *, commands: Sequence[tuple[str, str]] = BOT_COMMANDS
    ) -> None:
        self._settings = settings
        self._commands = tuple(commands)
        self._timings = Timings(
            draft_interval=settings.draft_interval.total_seconds(),
            edit_interval=settings.edit_interval.total_seconds(),
            typing_interval=settings.typing_interval.total_seconds(),
        )
        self._pacer = Pacer(self._timings.edit_interval)
        self._budget = FloodBudget()
        # Non-zero and unlikely to repeat across restarts (drafts with one id animate into each other).
        self._draft_ids: Iterator[int] = itertools.count(time.time_ns() // 1_000_000 % 2**31 + 1)
        self._replies: set[TelegramReply] = set()
        self._app: _TelegramApp | None = None
        self._api: BotApi | None = None
        self._bot: BotIdentity | None = None
        self._intake: Intake | None = None
        self.reconnects = 0  # failed long polls that PTB retried (``/metrics``)

    @property
    def identity(self) -> BotIdentity | None:
        """The bot's id and username, once started."""
        return self._bot

    async def start(self, intake: Intake) -> None:
        """Connect (``getMe``), register the commands, start polling or set the webhook.

        Raises:
            ChannelError: Telegram refused the token or could not be reached.
        """
        settings = self._settings
        webhook = settings.mode == "webhook"
        # Opt in to PTB's future time periods: without it, constructing RetryAfter (every 429)
        # emits a PTBDeprecationWarning (telegram/error.py, _utils/datetime.py:get_timedelta_value).
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        builder = (
            ApplicationBuilder()
            .token(settings.token.get_secret_value())
            .base_url(settings.api_base_url)
            .base_file_url(settings.file_base_url)
            .job_queue(None)  # reminders use our own scheduler (DESIGN.md §8)
        )
        if webhook:
            builder = builder.updater(None)
        app: _TelegramApp = builder.build()
        app.add_handler(TypeHandler(Update, self._on_update))
        self._intake = intake
        try:
            await app.initialize()
        except TelegramError as exc:
            raise translate(exc) from exc
        try:
            self._bot = BotIdentity(app.bot.id, app.bot.username)
            self._api = BotApi(app.bot)
            await self._register_commands(app)
            if webhook:
                await self._set_webhook(app)
            else:
                assert app.updater is not None
                await app.updater.start_polling(
                    timeout=settings.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=False,
                    error_callback=self._polling_failed,
                )
            await app.start()
        except BaseException:
            await self._shutdown(app)
            raise
        self._app = app
        log.info("telegram bot @%s connected (%s)", self._bot.username, settings.mode)

    async def stop(self) -> None:
        """Stop polling, abandon unfinished replies, close the HTTP clients."""
        app, self._app = self._app, None
        for reply in list(self._replies):
            await reply.abandon()
        self._replies.clear()
        if app is not None:
            await self._shutdown(app)

    async def pause(self) -> None:
        """Take no more updates (shutdown, before the lanes drain); replies can still be sent.

        Polling stops and confirms only the updates it already fetched, and those reach ``intake``
        before this returns; later ones stay with Telegram for the next start. A webhook answers
        503 from now on, so Telegram delivers again later.
        """
        app = self._app
        if app is None:
            return
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()

    def open_reply(self, message: InboundMessage) -> TelegramReply:
        """A streamed answer to ``message``: drafts in private chats, post + edits in groups."""
        return TelegramReply(
            self._require_api(),
            self._target(message),
            self._timings,
            self._pacer,
            self._draft_ids,
            registry=self._replies,
            budget=self._budget,
        )

    async def finalize(
        self, message: InboundMessage, message_ids: Sequence[str], text: str, tail: str
    ) -> None:
        """Bring the messages of a reply cut by a crash to their final form (recovery).

        The parts are rendered as the reply renders its final form, so a part that already shows
        it is left alone ("message is not modified"); parts beyond ``message_ids`` are sent.

        Raises:
            ChannelError: It could not be delivered.
        """
        api, target = self._require_api(), self._target(message)
        chunks = [c for c in render(text, tail) if c.plain.strip()]
        for index, chunk in enumerate(chunks):
            await self._budget.acquire(target.chat_id, group=not target.private, sure=True)
            if index < len(message_ids):
                await api.edit(target, int(message_ids[index]), chunk, sure=True)
            else:
                await api.send(target, chunk, reply=index == 0, sure=True)

    async def notice(self, message: InboundMessage, text: str) -> None:
        """Send ``text`` (command answers, apologies) as plain text in ``message``'s conversation.

        Raises:
            ChannelError: It could not be delivered.
        """
        api, target = self._require_api(), self._target(message)
        for index, chunk in enumerate(split_tokens([Text(text)])):
            if chunk.plain.strip():
                await api.send(target, chunk, reply=index == 0, sure=True)

    async def send(self, key: SessionKey, text: str) -> None:
        """Post ``text`` (a reminder, an alert) into the chat (and forum topic) of ``key``.

        Raises:
            ChannelError: It could not be delivered.
        """
        api = self._require_api()
        target = Target(
            chat_id=int(key.chat),
            thread_id=int(key.thread) if key.thread else None,
            reply_to=None,
            private=False,
        )
        for chunk in split_tokens([Text(text)]):
            if chunk.plain.strip():
                await api.send(target, chunk, reply=False, sure=True)

    @property
    def connected(self) -> bool:
        """Started and, in polling mode, the poller is running (PTB retries failed polls itself)."""
        app = self._app
        if app is None or not app.running:
            return False
        return app.updater is None or app.updater.running

    def http_routes(self) -> list[web.RouteDef]:
        """The webhook route for the shared HTTP server (webhook mode only)."""
        if self._settings.mode != "webhook":
            return []
        return [web.post(self._settings.webhook_path, self._webhook)]

    # -- internals ------------------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        received_ns = time.perf_counter_ns()
        if self._bot is None or self._intake is None:
            return
        message = normalize(update, self._bot, received_ns)
        if message is None:
            return
        try:
            await self._intake(message)
        except Exception:
            log.exception("telegram update %s was not accepted", update.update_id)

    async def _webhook(self, request: web.Request) -> web.Response:
        # Telegram sends the secret_token given to setWebhook in this header (Bot API setWebhook).
        expected = self._settings.webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        if expected is None or not hmac.compare_digest(
            given.encode(), expected.get_secret_value().encode()
        ):
            # Logged without the body (it may be anyone's payload) and without the header value.
            log.warning(
                "telegram webhook: refused a request from %s (%s secret token)",
                request.remote,
                "wrong" if given else "no",
            )
            return web.Response(status=401, text="wrong secret token")
        app = self._app
        if app is None or not app.running:
            return web.Response(status=503, text="not running")
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        if not isinstance(data, dict):
            return web.Response(status=400, text="body is not an update")
        update = Update.de_json(data, app.bot)
        await app.update_queue.put(update)
        return web.Response(status=200)

    async def _register_commands(self, app: _TelegramApp) -> None:
        commands = [BotCommand(name, description) for name, description in self._commands]
        try:
            await app.bot.set_my_commands(commands)
        except TelegramError as exc:
            # The bot works without the command menu; it is registered again at the next start.
            log.warning("telegram setMyCommands failed: %s", translate(exc))

    async def _set_webhook(self, app: _TelegramApp) -> None:
        settings = self._settings
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        try:
            await app.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        except TelegramError as exc:
            raise translate(exc) from exc

    async def _shutdown(self, app: _TelegramApp) -> None:
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        except TelegramError as exc:
            log.warning("telegram did not shut down cleanly: %s", translate(exc))

    def _polling_failed(self, error: TelegramError) -> None:
        self.reconnects += 1
        _polling_error(error)

    def _require_api(self) -> BotApi:
        if self._api is None:
            raise ChannelError("telegram channel is not started")
        return self._api

    @staticmethod
    def _target(message: InboundMessage) -> Target:
        key = message.key
        return Target(
            chat_id=int(key.chat),
            thread_id=int(key.thread) if key.thread else None,
            reply_to=None if message.is_direct else int(message.message_id),
            private=message.is_direct,
        )


def _polling_error(error: TelegramError) -> None:
    """PTB retries failed polls itself (1 s, growing to 30 s); say why in one line."""
    if isinstance(error, Conflict):
        log.warning("telegram: another process polls with this bot token (409 Conflict)")
    else:
        log.warning("telegram polling failed: %s", translate(error))

"""The Slack channel: slack-bolt's ``AsyncApp`` inside our event loop, Socket Mode or HTTP events.

Socket Mode (the default): ``AsyncSocketModeHandler.connect_async`` returns once the websocket is
open (``start_async`` would sleep forever), and ``close_async`` ends it (PLATFORM_NOTES §2.1).
HTTP mode: the Events API endpoint is a route on Hearth's own aiohttp server; the signing secret is
checked here, before bolt, so that a refused request is answered 401 without its body ever being
logged (bolt's own check logs the body at INFO). Bolt acknowledges every event before our listener
runs; the listener only normalizes and hands the message to ``intake``, which enqueues.

Bolt does not deduplicate (PLATFORM_NOTES §2.1): a retried event and the ``app_mention`` +
``message`` pair of one message reach ``intake`` twice with the same (channel, ``ts``), which the
runtime's dedupe collapses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import ChannelError, InboundMessage, Intake, SessionKey
from channels.slack.chunking import MESSAGE_LIMIT, SECTION_LIMIT, split_text
from channels.slack.events import PLATFORM, BotIdentity, normalize
from channels.slack.mrkdwn import escape, to_mrkdwn
from channels.slack.pacing import Budget, Budgets
from channels.slack.reply import EMPTY_ANSWER, SlackReply, Target, Timings
from channels.slack.threads import ThreadMemory
from channels.slack.web_api import (
    SlackApi,
    build_client,
    context_block,
    quietly,
    section_blocks,
)
from config import SlackSettings

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"


class SlackChannel:
    """Slack threads and DMs through slack-bolt, answered with native streaming or edits.

    Args:
        settings: The ``channels.slack`` section.
        message_limit: Characters per message of an answer; longer answers continue in the thread.
    """

    name = PLATFORM

    def __init__(self, settings: SlackSettings, *, message_limit: int = MESSAGE_LIMIT) -> None:
        self._settings = settings
        self._limit = message_limit
        self._timings = Timings(
            native=settings.streaming == "native",
            stream_interval=settings.stream_interval.total_seconds(),
            stream_rotation=settings.stream_rotation.total_seconds(),
            edit_interval=settings.edit_interval.total_seconds(),
        )
        self._budgets = Budgets(
            edits=Budget(settings.workspace_edits_per_minute),
            appends=Budget(settings.workspace_appends_per_minute),
        )
        secret = settings.signing_secret
        self._verifier = SignatureVerifier(secret.get_secret_value()) if secret else None
        self._session: aiohttp.ClientSession | None = None
        self._api: SlackApi | None = None
        self._app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._bot: BotIdentity | None = None
        self._threads: ThreadMemory | None = None
        self._intake: Intake | None = None
        self._replies: dict[SlackReply, str] = {}  # open replies → the message they answer
        self._hellos = 0  # Socket Mode "hello"s: one per websocket connection
        self.reconnects = 0  # connections after the first (``/metrics``)

    @property
    def identity(self) -> BotIdentity | None:
        """The bot's user, bot and team ids, once started."""
        return self._bot

    async def start(self, intake: Intake) -> None:
        """Authenticate (``auth.test``), then open the Socket Mode websocket (Socket Mode) or
        accept events on the HTTP route (HTTP mode).

        Raises:
            ChannelError: Slack refused a token, or could not be reached within
                ``connect_timeout``.
        """
        if self._session is not None:
            raise RuntimeError("the slack channel is already started")
        settings = self._settings
        timeout = settings.connect_timeout.total_seconds()
        self._session = aiohttp.ClientSession()
        try:
            client = build_client(
                settings.bot_token.get_secret_value(),
                settings.api_base_url,
                self._session,
                rate_limit_retries=settings.rate_limit_retries,
            )
            api = SlackApi(client)
            try:
                bot = await asyncio.wait_for(api.identify(), timeout)
            except TimeoutError as exc:
                raise ChannelError(f"slack auth.test: no answer within {timeout:g} s") from exc
            self._api, self._bot, self._intake = api, bot, intake
            self._threads = ThreadMemory(lambda channel, ts: api.thread_has(channel, ts, bot))
            app = self._build_app(client)
            if settings.mode == "socket":
                await self._connect_socket(app, client, timeout)
            self._app = app
        except BaseException:
            await self.stop()
            raise
        log.info("slack bot %s of team %s connected (%s)", bot.user_id, bot.team_id, settings.mode)

    async def stop(self) -> None:
        """Abandon unfinished replies, close the socket and the HTTP session."""
        for reply in list(self._replies):
            await reply.abandon()
        self._replies.clear()
        self._intake, self._app = None, None
        socket, self._socket = self._socket, None
        if socket is not None:
            await _close_socket(socket)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self._api, self._bot, self._threads = None, None, None

    def open_reply(self, message: InboundMessage) -> SlackReply:
        """A streamed answer to ``message`` in its thread."""
        key = message.key
        target = Target(
            channel=key.chat,
            thread_ts=key.thread or message.message_id,
            team_id=key.scope,
            user_id=message.author.id,
        )
        self._note_thread(target.channel, target.thread_ts)
        reply = SlackReply(
            self._require_api(),
            target,
            self._timings,
            self._budgets,
            limit=self._limit,
            on_close=self._forget_reply,
        )
        self._replies[reply] = message.message_id
        return reply

    async def notice(self, message: InboundMessage, text: str) -> None:
        """Post ``text`` (a command answer, an apology) in the thread of ``message``; an
        unfinished answer to the same message is ended first.

        Raises:
            ChannelError: It could not be delivered.
        """
        for reply, answered in list(self._replies.items()):
            if answered == message.message_id:
                await reply.abandon()
        await self._post(message.key.chat, message.key.thread or message.message_id, text)

    async def finalize(
        self, message: InboundMessage, message_ids: Sequence[str], text: str, tail: str
    ) -> None:
        """Bring the messages of a reply cut by a crash to their final form (recovery).

        A stream still open is stopped; then each message gets its part of ``text`` as section
        blocks (``tail`` in a context block under the last), the form a finished edit-mode reply
        has; parts beyond ``message_ids`` are posted in the thread.

        Raises:
            ChannelError: An update or post failed.
        """
        api = self._require_api()
        channel, thread_ts = message.key.chat, message.key.thread or message.message_id
        pieces = [p for p in split_text(text, self._limit) if p.strip()] or [EMPTY_ANSWER]
        for index, piece in enumerate(pieces):
            shown = to_mrkdwn(piece)
            blocks = section_blocks(split_text(shown, SECTION_LIMIT))
            if tail and index == len(pieces) - 1:
                blocks.append(context_block(escape(tail)))
            if index >= len(message_ids):
                await api.post(channel, thread_ts, shown, blocks)
                continue
            ts = message_ids[index]
            # Ends a stream the crash left open; one that ended already says so, which is fine.
            await quietly(api.stop_stream(channel, ts, None), "stop")
            await api.update(channel, ts, shown, blocks)

    async def send(self, key: SessionKey, text: str) -> None:
        """Post ``text`` (a reminder, an alert) into the conversation of ``key``, in its thread
        when ``key.thread`` is set.

        Raises:
            ChannelError: It could not be delivered.
        """
        await self._post(key.chat, key.thread or None, text)

    @property
    def connected(self) -> bool:
        """Socket Mode: the websocket is open; HTTP mode: started and ``auth.test`` succeeded."""
        if self._app is None or self._bot is None:
            return False
        if self._socket is None:
            return True
        client = self._socket.client
        session = client.current_session
        return not client.closed and not client.stale and session is not None and not session.closed

    def http_routes(self) -> list[web.RouteDef]:
        """The Events API route for the shared HTTP server (HTTP mode only)."""
        if self._settings.mode != "http":
            return []
        return [web.post(self._settings.events_path, self._events)]

    # -- inbound --------------------------------------------------------------------------------

    def _build_app(self, client: AsyncWebClient) -> AsyncApp:
        app = AsyncApp(
            client=client,
            name="hearth",
            logger=logging.getLogger("channels.slack.bolt"),
            signing_secret="",
            # Verified in _events, in front of bolt, so that a refused body is never logged.
            request_verification_enabled=False,
            attaching_conversation_kwargs_enabled=False,
        )
        app.event("app_mention")(self._on_event)
        app.event("message")(self._on_event)
        return app

    async def _connect_socket(self, app: AsyncApp, client: AsyncWebClient, limit_s: float) -> None:
        app_token = self._settings.app_token
        assert app_token is not None  # SlackSettings requires it in Socket Mode
        socket = self._socket = AsyncSocketModeHandler(
            app, app_token.get_secret_value(), web_client=client
        )
        # slack_sdk reconnects by itself (a "disconnect" message, a dead socket); every new
        # connection starts with "hello", so the ones after the first are reconnects.
        socket.client.on_message_listeners.append(self._on_socket_message)
        try:
            # connect() retries forever on its own (slack_sdk socket_mode/aiohttp), so bound it.
            # bolt's handler methods carry no annotations.
            await asyncio.wait_for(socket.connect_async(), limit_s)  # type: ignore[no-untyped-call]
        except TimeoutError as exc:
            raise ChannelError(
                f"slack socket mode: not connected within {limit_s:g} s "
                "(check the app-level token and its connections:write scope)"
            ) from exc

    async def _on_socket_message(self, message: aiohttp.WSMessage) -> None:
        if message.type != aiohttp.WSMsgType.TEXT or '"hello"' not in message.data:
            return
        try:
            kind = json.loads(message.data).get("type")
        except (ValueError, AttributeError):
            return
        if kind == "hello":
            self._hellos += 1
            if self._hellos > 1:
                self.reconnects += 1
                log.info("slack socket mode reconnected (%d so far)", self.reconnects)

    async def _on_event(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        received_ns = time.perf_counter_ns()  # the TTFT origin: before any work of ours
        intake, bot, threads = self._intake, self._bot, self._threads
        if intake is None or bot is None or threads is None:
            return
        normalized = normalize(body, event, bot, received_ns)
        if normalized is None:
            return
        message = normalized.message
        if (
            normalized.thread_reply
            and not message.mentioned
            and not message.author.is_bot
            and self._settings.thread_followups
            and await threads.joined(message.key.chat, normalized.thread_ts)
        ):
            message = dataclasses.replace(message, mentioned=True)
        try:
            await intake(message)
        except Exception:
            log.exception(
                "slack message %s in %s was not accepted", message.message_id, message.key
            )

    async def _events(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._signed(body, request.headers):
            log.warning("slack: refused an events request with a bad or stale signature")
            return web.Response(status=401, text="invalid signature")
        app = self._app
        if app is None:
            return web.Response(status=503, text="not running")
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    def _signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """``X-Slack-Signature`` is ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")`` and the timestamp
        is within 5 minutes (``slack_sdk/signature``)."""
        if self._verifier is None:
            return False
        try:
            return self._verifier.is_valid(
                body, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
            )
        except (ValueError, UnicodeDecodeError):  # a timestamp that is no number, a body no text
            return False

    # -- outbound -------------------------------------------------------------------------------

    async def _post(self, channel: str, thread_ts: str | None, text: str) -> None:
        api = self._require_api()
        if thread_ts:
            self._note_thread(channel, thread_ts)
        for piece in split_text(text, self._limit):
            if piece.strip():
                await api.post(channel, thread_ts, to_mrkdwn(piece))

    def _note_thread(self, channel: str, thread_ts: str) -> None:
        if self._threads is not None:
            self._threads.note(channel, thread_ts)

    def _require_api(self) -> SlackApi:
        if self._api is None:
            raise ChannelError("the slack channel is not started")
        return self._api

    def _forget_reply(self, reply: SlackReply) -> None:
        self._replies.pop(reply, None)


async def _close_socket(socket: AsyncSocketModeHandler) -> None:
    """Close the websocket and wait for the client's own tasks, so none outlives the channel."""
    client = socket.client
    try:
        await socket.close_async()  # type: ignore[no-untyped-call]  # bolt has no annotation here
    except (aiohttp.ClientError, OSError) as exc:
        log.warning("slack socket mode did not close cleanly: %s", exc)
    tasks = [
        task
        for task in (
            client.message_processor,
            client.current_session_monitor,
            client.message_receiver,
        )
        if task is not None
    ]
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.warning("slack socket mode task ended with %r", outcome)

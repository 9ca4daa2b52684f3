"""Loopback fake of Slack: the Web API, a Socket Mode websocket, and a signed Events API poster.

Web API (``POST /api/{method}``, JSON or form bodies): ``auth.test``, ``apps.connections.open``,
``chat.postMessage``, ``chat.update``, ``chat.startStream``/``appendStream``/``stopStream`` with the
streaming state machine (a stream ends on stop, or expires after :attr:`FakeSlack.stream_lifetime`
or at :meth:`FakeSlack.expire_streams`; appends then get ``message_not_in_streaming_state``),
``assistant.threads.setStatus`` and ``conversations.replies``. Errors and HTTP 429 + ``Retry-After``
are injected per method.

Events reach the app through the Socket Mode websocket (hello, envelopes with ``retry_attempt``,
acks recorded, ``disconnect``) or, when :attr:`FakeSlack.events_url` is set, as signed HTTP POSTs
(``X-Slack-Signature``, optionally ``X-Slack-Retry-Num``). Like Slack, the fake also sends the bot's
own new messages back as ``message`` events.

What users see: every message's current text (the streamed Markdown, or the mrkdwn of its section
blocks), the context line under it (:attr:`SlackMessage.visible`), per thread (:meth:`thread`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import WSMsgType, web

from .base import FakeServer, json_response, recorded

TEAM_ID, APP_ID = "T0HEARTH", "A0HEARTH"
BOT_USER_ID, BOT_ID = "U0HEARTH", "B0HEARTH"
USER_ID = "U0ALICE"
CHANNEL_ID, DM_CHANNEL_ID = "C0GENERAL", "D0ALICE"
BOT_TOKEN, APP_TOKEN = "xoxb-fake-bot-token", "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
MARKDOWN_LIMIT = 12_000
_JSON_FIELDS = frozenset({"blocks", "chunks", "attachments", "metadata"})
_APP_METHODS = frozenset({"apps.connections.open"})

StreamState = Literal["none", "streaming", "stopped", "expired"]


@dataclass
class SlackMessage:
    """A message as the people in the channel see it now.

    Attributes:
        text: ``text`` of a posted/updated message, or the Markdown streamed so far.
        blocks: Its blocks (section blocks replace ``text`` on screen; context blocks go under it).
        writes: ``(loop time, method)`` of every call that changed it.
    """

    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None
    from_bot: bool = False
    blocks: list[dict[str, Any]] = field(default_factory=list)
    stream: StreamState = "none"
    started_at: float = 0.0
    writes: list[tuple[float, str]] = field(default_factory=list)

    @property
    def body(self) -> str:
        """The main text: the section blocks' mrkdwn when it has any, else ``text``."""
        sections = [b["text"]["text"] for b in self.blocks if b.get("type") == "section"]
        return "\n".join(sections) if sections else self.text

    @property
    def context(self) -> list[str]:
        """The texts of its context blocks (the small grey lines under it)."""
        return [
            element["text"]
            for block in self.blocks
            if block.get("type") == "context"
            for element in block.get("elements", [])
        ]

    @property
    def visible(self) -> str:
        """Body and context lines, as one string."""
        return "\n".join([self.body, *self.context])

    def count(self, method: str) -> int:
        """How many ``method`` calls wrote this message."""
        return sum(1 for _, m in self.writes if m == method)


class SlackError(Exception):
    """An ``{"ok": false, "error": code}`` answer."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class FakeSlack(FakeServer):
    """One workspace with one channel (``C0GENERAL``) and one DM (``D0ALICE``)."""

    def __init__(self, *, signing_secret: str = SIGNING_SECRET) -> None:
        super().__init__()
        self.signing_secret = signing_secret
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        self.calls: list[tuple[str, dict[str, Any], float]] = []  # (method, params, loop time)
        self.statuses: list[tuple[str, str, str]] = []  # (channel, thread_ts, status) in order
        self.status: dict[tuple[str, str], str] = {}  # what each thread shows now
        self.acks: list[str] = []
        self.envelopes: list[dict[str, Any]] = []
        self.bodies: list[dict[str, Any]] = []  # every event body delivered, in order
        self.http_responses: list[int] = []
        self.connections = 0
        self.stream_lifetime: float | None = None
        self.events_url: str | None = None
        self.echo_bot_messages = True
        self._errors: dict[str, deque[tuple[int, str, float | None]]] = {}
        self._socket: web.WebSocketResponse | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._epoch = int(time.time())
        self._ts = itertools.count(100)
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None

    # -- test API: setup and faults -------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The Web API base (``channels.slack.api_base_url``)."""
        return f"{self.url}/api/"

    @property
    def connected(self) -> bool:
        """A Socket Mode websocket is open."""
        return self._socket is not None and not self._socket.closed

    def channel_config(self, **overrides: object) -> dict[str, object]:
        """A ``channels.slack`` section for this fake, with timings in milliseconds."""
        return {"bot_token": BOT_TOKEN, "app_token": APP_TOKEN, "api_base_url": self.api_url,
                "stream_interval": "30ms", "edit_interval": "50ms", "connect_timeout": "10s",
                **overrides}  # fmt: skip

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        self._errors.setdefault(method, deque()).extend([(200, error, None)] * times)

    def rate_limit(self, method: str, retry_after: int, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429 and ``Retry-After``."""
        self._errors.setdefault(method, deque()).extend([(429, "ratelimited", retry_after)] * times)

    def expire_streams(self) -> None:
        """End every live stream now, as Slack does after about five minutes."""
        for message in self.messages.values():
            if message.stream == "streaming":
                message.stream = "expired"

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every ``method`` call, in order."""
        return [params for name, params, _ in self.calls if name == method]

    def times_of(self, method: str) -> list[float]:
        """When each ``method`` call arrived (loop time), in order."""
        return [at for name, _, at in self.calls if name == method]

    # -- test API: the user side ----------------------------------------------------------------

    def thread(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        """The root and the replies of a thread, oldest first."""
        found = [m for m in self.messages.values() if m.channel == channel
                 and (thread_ts in (m.ts, m.thread_ts))]  # fmt: skip
        return sorted(found, key=lambda m: _ts_key(m.ts))

    def bot_replies(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        """The bot's messages in a thread, oldest first."""
        return [m for m in self.thread(channel, thread_ts) if m.from_bot]

    def top_level_bot_messages(self, channel: str) -> list[SlackMessage]:
        """Bot messages outside any thread (Hearth should never post those unprompted)."""
        return [m for m in self.messages.values()
                if m.channel == channel and m.from_bot and m.thread_ts is None]  # fmt: skip

    async def user_message(
        self,
        text: str,
        *,
        channel: str = CHANNEL_ID,
        thread_ts: str | None = None,
        user: str = USER_ID,
        mention: bool = False,
        events: tuple[str, ...] | None = None,
    ) -> SlackMessage:
        """A person writes; Slack sends ``message`` (and ``app_mention`` when the bot is
        mentioned) to the app. Returns the message (its ``ts`` is the Slack message id)."""
        if mention:
            text = f"<@{BOT_USER_ID}> {text}"
        message = self._store(channel, user, text, thread_ts, from_bot=False)
        if events is None:
            events = ("message", "app_mention") if f"<@{BOT_USER_ID}>" in text else ("message",)
        for kind in events:
            await self.deliver(self.event_body(self._event(kind, message)))
        return message

    def event_body(self, event: dict[str, Any]) -> dict[str, Any]:
        """The ``event_callback`` body Slack wraps an event in."""
        return {"token": "verification-token", "team_id": TEAM_ID, "api_app_id": APP_ID,
                "event": event, "type": "event_callback", "event_id": f"Ev{next(self._ids):08d}",
                "event_time": int(time.time()), "is_ext_shared_channel": False,
                "authorizations": [{"enterprise_id": None, "team_id": TEAM_ID,
                                    "user_id": BOT_USER_ID, "is_bot": True,
                                    "is_enterprise_install": False}]}  # fmt: skip

    async def deliver(
        self, body: dict[str, Any], *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> None:
        """Send an event body to the app: over the websocket, or signed to :attr:`events_url`."""
        self.bodies.append(body)
        if self.events_url is not None:
            headers = {"X-Slack-Retry-Num": str(retry_attempt),
                       "X-Slack-Retry-Reason": retry_reason} if retry_attempt else {}  # fmt: skip
            status, _ = await self.post_event(body, headers=headers)
            self.http_responses.append(status)
            return
        socket = self._socket
        if socket is None or socket.closed:
            raise RuntimeError("no Socket Mode connection to deliver to")
        envelope = {"envelope_id": f"env-{next(self._ids)}", "type": "events_api",
                    "accepts_response_payload": False, "retry_attempt": retry_attempt,
                    "retry_reason": retry_reason, "payload": body}  # fmt: skip
        self.envelopes.append(envelope)
        await socket.send_str(json.dumps(envelope))

    async def post_event(
        self,
        body: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST ``body`` to :attr:`events_url`, signed as Slack signs (``v0`` HMAC-SHA256 of
        ``v0:{timestamp}:{body}``); returns the HTTP status and the response text."""
        assert self.events_url is not None
        raw = json.dumps(body)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        key = (self.signing_secret if secret is None else secret).encode()
        digest = hmac.new(key, f"v0:{stamp}:{raw}".encode(), hashlib.sha256).hexdigest()
        sent = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": f"v0={digest}", **(headers or {})}  # fmt: skip
        if self._http is None:
            self._http = aiohttp.ClientSession()
        async with self._http.post(self.events_url, data=raw, headers=sent) as response:
            return response.status, await response.text()

    async def disconnect(self) -> None:
        """Ask the client to reconnect (``{"type": "disconnect"}``), as Slack does on refresh."""
        if self._socket is not None:
            await self._socket.send_str(json.dumps({"type": "disconnect",
                                                    "reason": "refresh_requested"}))  # fmt: skip

    async def close(self) -> None:
        """Close sockets and the poster's session, then the server."""
        for socket in list(self._sockets):
            await socket.close()
        if self._http is not None:
            await self._http.close()
        await super().close()

    # -- Web API --------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/{method}", self._api), web.get("/api/{method}", self._api),
                web.get("/link/", self._websocket)]  # fmt: skip

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = _params(request)
        self.calls.append((method, params, asyncio.get_running_loop().time()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or str(params.get("token", ""))
        if token != (APP_TOKEN if method in _APP_METHODS else BOT_TOKEN):
            return json_response({"ok": False, "error": "invalid_auth"})
        queued = self._errors.get(method)
        if queued:
            status, error, retry_after = queued.popleft()
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return json_response({"ok": False, "error": error}, status, headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return json_response({"ok": False, "error": "unknown_method"})
        try:
            result: dict[str, Any] = await handler(params)
        except SlackError as exc:
            return json_response({"ok": False, "error": exc.code})
        return json_response({"ok": True, **result})

    async def _m_auth_test(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://hearth.slack.com/", "team": "Hearth", "user": "hearth",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "is_enterprise_install": False}  # fmt: skip

    async def _m_apps_connections_open(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.url.replace("http://", "ws://") + f"/link/?ticket={next(self._ids)}"}

    async def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text, blocks = str(params.get("text") or ""), list(params.get("blocks") or [])
        if not text and not blocks:
            raise SlackError("no_text")
        message = self._store(_channel(params), BOT_USER_ID, text, params.get("thread_ts"),
                              from_bot=True, blocks=blocks, method="chat.postMessage")  # fmt: skip
        await self._echo(message)
        return {"channel": message.channel, "ts": message.ts}

    async def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._own(params)
        if self._live(message):
            raise SlackError("cant_update_message")
        message.text = str(params.get("text") or params.get("markdown_text") or "")
        message.blocks = list(params.get("blocks") or [])
        self._wrote(message, "chat.update")
        return {"channel": message.channel, "ts": message.ts, "text": message.text}

    async def _m_chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = _channel(params), params.get("thread_ts")
        if not thread_ts:
            raise SlackError("invalid_arguments")
        if not channel.startswith("D"):  # "Required when streaming to channels"
            if not params.get("recipient_user_id"):
                raise SlackError("missing_recipient_user_id")
            if not params.get("recipient_team_id"):
                raise SlackError("missing_recipient_team_id")
        message = self._store(channel, BOT_USER_ID, _markdown(params), thread_ts,
                              from_bot=True, method="chat.startStream")  # fmt: skip
        message.stream, message.started_at = "streaming", asyncio.get_running_loop().time()
        await self._echo(message)
        return {"channel": channel, "ts": message.ts}

    async def _m_chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(params)
        message.text += _markdown(params)
        self._wrote(message, "chat.appendStream")
        return {"channel": message.channel, "ts": message.ts}

    async def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(params)
        message.text += _markdown(params)
        message.blocks = list(params.get("blocks") or [])
        message.stream = "stopped"
        self._wrote(message, "chat.stopStream")
        return {"channel": message.channel, "ts": message.ts}

    async def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = str(params.get("channel_id", "")), str(params.get("thread_ts", ""))
        status = str(params.get("status", ""))
        self.statuses.append((channel, thread_ts, status))
        self.status[(channel, thread_ts)] = status
        return {}

    async def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        thread = self.thread(_channel(params), str(params.get("ts", "")))
        if not thread:
            raise SlackError("thread_not_found")
        return {"has_more": False, "messages": [self._event("message", m) for m in thread]}

    # -- Socket Mode ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()  # answers the client's pings itself (autoping)
        await socket.prepare(request)
        self.connections += 1
        self._sockets.add(socket)
        self._socket = socket
        try:
            await socket.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                              "connection_info": {"app_id": APP_ID},
                                              "debug_info": {"host": "fake-slack"}}))  # fmt: skip
            async for frame in socket:
                if frame.type is WSMsgType.TEXT:
                    self.acks.append(json.loads(frame.data)["envelope_id"])
        finally:
            self._sockets.discard(socket)
            if self._socket is socket:
                self._socket = None
        return socket

    # -- internals ------------------------------------------------------------------------------

    def _store(self, channel: str, user: str, text: str, thread_ts: object, *, from_bot: bool,
               blocks: list[dict[str, Any]] | None = None, method: str = "") -> SlackMessage:  # fmt: skip
        ts = f"{self._epoch}.{next(self._ts):06d}"  # unique, ordered, and close to now
        thread = str(thread_ts) if thread_ts else None
        message = SlackMessage(channel, ts, user, text, thread, from_bot, blocks or [])
        self.messages[(channel, ts)] = message
        if from_bot:
            self._wrote(message, method)
            # Slack clears the thread's status when the app replies in it.
            self.status.pop((channel, thread or ts), None)
        return message

    def _own(self, params: dict[str, Any]) -> SlackMessage:
        message = self.messages.get((_channel(params), str(params.get("ts", ""))))
        if message is None:
            raise SlackError("message_not_found")
        if not message.from_bot:
            raise SlackError("cant_update_message")
        return message

    def _live(self, message: SlackMessage) -> bool:
        if message.stream != "streaming":
            return False
        lifetime, now = self.stream_lifetime, asyncio.get_running_loop().time()
        if lifetime is not None and now - message.started_at > lifetime:
            message.stream = "expired"
            return False
        return True

    def _streaming(self, params: dict[str, Any]) -> SlackMessage:
        message = self._own(params)
        if not self._live(message):
            raise SlackError("message_not_in_streaming_state")
        if len(_markdown(params)) > MARKDOWN_LIMIT:
            raise SlackError("msg_too_long")
        return message

    @staticmethod
    def _wrote(message: SlackMessage, method: str) -> None:
        message.writes.append((asyncio.get_running_loop().time(), method))

    def _event(self, kind: str, message: SlackMessage) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "user": message.user, "text": message.text,
                                 "ts": message.ts, "channel": message.channel,
                                 "event_ts": message.ts, "team": TEAM_ID}  # fmt: skip
        if kind == "message":
            event["channel_type"] = "im" if message.channel.startswith("D") else "channel"
        if message.thread_ts is not None:
            event["thread_ts"] = message.thread_ts
        if message.from_bot:
            event["bot_id"] = BOT_ID
        return event

    async def _echo(self, message: SlackMessage) -> None:
        if self.echo_bot_messages and (self.events_url is not None or self.connected):
            await self.deliver(self.event_body(self._event("message", message)))


def _params(request: web.Request) -> dict[str, Any]:
    """JSON body, form body or (GET) query string, as slack_sdk sends each method."""
    record = recorded(request)
    if isinstance(record.json, dict):
        return record.json
    params: dict[str, Any] = {}
    pairs = parse_qsl(record.body.decode(), keep_blank_values=True) + list(request.query.items())
    for name, value in pairs:
        params[name] = json.loads(value) if name in _JSON_FIELDS and value else value
    return params


def _channel(params: dict[str, Any]) -> str:
    return str(params.get("channel") or params.get("channel_id") or "")


def _markdown(params: dict[str, Any]) -> str:
    """The Markdown of a stream call: ``markdown_text`` and any ``markdown_text`` chunks."""
    text = str(params.get("markdown_text") or "")
    for chunk in params.get("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text", ""))
    return text


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)

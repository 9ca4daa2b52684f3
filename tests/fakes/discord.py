"""A loopback fake of Discord: REST v10 and the gateway websocket, for the real discord.py client.

REST: ``users/@me``, ``oauth2/applications/@me``, ``gateway``, messages create/edit, typing and
threads started from a message (optionally forbidden with 403), with rate-limit headers and
injectable 429s. Gateway: HELLO, heartbeat ACK, IDENTIFY (intents recorded), READY and GUILD_CREATE,
dispatches with sequence numbers, RESUME with replay, RECONNECT and INVALID_SESSION.

Each channel keeps what its users see (:class:`SeenMessage`: the content after the last edit, every
write with its time and JSON body). Responses use the exact ``Content-Type: application/json``:
discord.py parses nothing else (PLATFORM_NOTES §3.2).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import WSMsgType, web

from tests.fakes.base import FakeServer, recorded

API = "/api/v10"
BOT_ID = "800000000000000001"
APPLICATION_ID = "800000000000000002"
USER_ID = "800000000000000003"
GUILD_ID = "810000000000000001"
TEXT_CHANNEL_ID = "820000000000000001"
DM_CHANNEL_ID = "830000000000000001"
MESSAGE_CONTENT_INTENT = 1 << 15
HEARTBEAT_MS = 41_250
DISCORD_EPOCH_MS = 1_420_070_400_000
LIMIT = 2000
TOKEN = "fake-bot-token"


@dataclass
class SeenMessage:
    """One message as users see it, with its write history.

    Attributes:
        writes: ``(loop time, content)`` of the create and of every edit.
        bodies: The JSON request bodies of the create and of every edit (bot messages only).
    """

    id: str
    author_id: str
    content: str
    from_bot: bool
    writes: list[tuple[float, str]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def edits(self) -> int:
        """How many times the message was edited."""
        return max(0, len(self.writes) - 1)


@dataclass
class FakeChannel:
    """A DM, a guild text channel or a thread."""

    id: str
    kind: Literal["dm", "text", "thread"]
    guild_id: str | None = None
    parent_id: str | None = None
    name: str = ""
    messages: list[SeenMessage] = field(default_factory=list)
    typing: int = 0

    def bot_messages(self) -> list[SeenMessage]:
        """The messages the bot posted, oldest first."""
        return [m for m in self.messages if m.from_bot]


def _user(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": user_id, "username": name, "discriminator": "0", "global_name": name,
            "avatar": None, "bot": bot}  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeDiscord(FakeServer):
    """Discord REST + gateway on 127.0.0.1; one guild with one text channel, and one DM."""

    def __init__(self) -> None:
        super().__init__()
        self.bot_user = _user(BOT_ID, "hearth", bot=True)
        self.channels: dict[str, FakeChannel] = {
            TEXT_CHANNEL_ID: FakeChannel(TEXT_CHANNEL_ID, "text", GUILD_ID, name="general"),
            DM_CHANNEL_ID: FakeChannel(DM_CHANNEL_ID, "dm"),
        }
        self.forbid_threads = False
        self.content_intent_allowed = True  # False: the portal toggle is off (close 4014)
        self.resume_gate: asyncio.Event | None = (
            None  # set: a RESUME is answered only once it is set
        )
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.rate_limited: list[str] = []  # "METHOD path" of every 429 served
        self._pending_429: list[tuple[str, float]] = []
        self._ids = itertools.count(1)
        self._history: list[dict[str, Any]] = []
        self._seq = 0
        self._session = ""
        self._intents = 0
        self._live: web.WebSocketResponse | None = None  # the socket that receives dispatches
        self._sockets: set[web.WebSocketResponse] = set()
        self._send_lock = asyncio.Lock()

    # -- test API -------------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        """The gateway websocket URL (``channels.discord.gateway_url``)."""
        return self.url.replace("http://", "ws://") + "/gateway"

    @property
    def api_url(self) -> str:
        """The REST base (``channels.discord.api_base_url``)."""
        return self.url + API

    @property
    def connected(self) -> bool:
        """A gateway session is live (after READY or RESUMED)."""
        return self._live is not None

    def channel_config(self, **overrides: object) -> dict[str, object]:
        """A ``channels.discord`` section pointing at this fake, with timings in milliseconds."""
        return {"token": TOKEN, "api_base_url": self.api_url, "gateway_url": self.gateway_url,
                "guild_ready_timeout": "20ms", "edit_interval": "50ms", "typing_interval": "50ms",
                "connect_timeout": "10s", "identify_delay": "10ms", **overrides}  # fmt: skip

    def channel(self, channel_id: str) -> FakeChannel:
        """A channel or thread by id."""
        return self.channels[channel_id]

    def threads(self) -> list[FakeChannel]:
        """Threads the bot opened, oldest first."""
        return [c for c in self.channels.values() if c.kind == "thread"]

    def all_bot_writes(self) -> list[dict[str, Any]]:
        """Every create/edit body the bot sent, in every channel."""
        return [b for c in self.channels.values() for m in c.bot_messages() for b in m.bodies]

    def rate_limit_next(self, method: str, retry_after: float) -> None:
        """Answer the next message ``method`` (POST or PATCH) with 429 and ``retry_after`` s."""
        self._pending_429.append((method, retry_after))

    async def user_message(
        self,
        channel_id: str,
        text: str,
        *,
        mention_bot: bool = False,
        author_id: str = USER_ID,
        author_name: str = "alice",
        author_bot: bool = False,
    ) -> dict[str, Any]:
        """A person (or another bot) writes in a channel; returns the MESSAGE_CREATE payload."""
        channel = self.channels[channel_id]
        content = f"<@{BOT_ID}> {text}" if mention_bot else text
        message = SeenMessage(self._snowflake(), author_id, content, from_bot=False)
        channel.messages.append(message)
        payload = self._message_payload(
            channel, message, _user(author_id, author_name, bot=author_bot)
        )
        payload["mentions"] = [self.bot_user] if mention_bot else []
        await self.dispatch("MESSAGE_CREATE", payload)
        return payload

    async def redeliver(self, payload: dict[str, Any]) -> None:
        """Dispatch the same MESSAGE_CREATE again (at-least-once delivery after a resume)."""
        await self.dispatch("MESSAGE_CREATE", payload)

    async def reconnect(self) -> None:
        """Send RECONNECT (op 7); dispatches wait in the session until the client RESUMEs."""
        live, self._live = self._live, None
        if live is not None:
            await self._send(live, {"op": 7, "d": None})

    async def invalidate_session(self) -> None:
        """Send INVALID_SESSION (op 9, not resumable): the client must IDENTIFY again."""
        live, self._live, self._session = self._live, None, ""
        if live is not None:
            await self._send(live, {"op": 9, "d": False})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH (op 0) now, or keep it for the replay on RESUME."""
        if event == "MESSAGE_CREATE":
            data = self._as_delivered(data)
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._history.append(frame)
        if self._live is not None:
            await self._send(self._live, frame)

    async def close(self) -> None:
        """Close gateway sockets, then the server."""
        for socket in list(self._sockets):
            await socket.close()
        await super().close()

    def _snowflake(self) -> str:
        # Ids carry their creation time (Discord epoch 2015); discord.py reads created_at from it.
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((millis << 22) | next(self._ids))

    # -- REST -----------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """REST v10 and the gateway."""
        return [
            web.get(f"{API}/users/@me", self._me),
            web.get(f"{API}/oauth2/applications/@me", self._application),
            web.get(f"{API}/gateway", self._gateway_info),
            web.get(f"{API}/gateway/bot", self._gateway_info),
            web.post(f"{API}/channels/{{cid}}/messages", self._create_message),
            web.patch(f"{API}/channels/{{cid}}/messages/{{mid}}", self._edit_message),
            web.post(f"{API}/channels/{{cid}}/typing", self._typing),
            web.post(f"{API}/channels/{{cid}}/messages/{{mid}}/threads", self._start_thread),
            web.get("/gateway", self._gateway),
        ]

    @staticmethod
    def _json(payload: object, status: int = 200, **headers: str) -> web.Response:
        # Bucket headers as Discord sends them; discord.py's limiter reads them (http.py).
        limits = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "49",
                  "X-RateLimit-Reset-After": "1.000", "X-RateLimit-Bucket": "fake-bucket"}  # fmt: skip
        return web.Response(
            body=json.dumps(payload).encode(),
            status=status,
            headers={**limits, **headers},
            content_type="application/json",
        )

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return self._json({"message": message, "code": code}, status)

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {TOKEN}":
            return self._error(401, 0, "401: Unauthorized")
        return self._json(self.bot_user)

    async def _application(self, _: web.Request) -> web.Response:
        return self._json({"id": APPLICATION_ID, "name": "hearth", "description": "", "icon": None,
                           "bot_public": True, "bot_require_code_grant": False,
                           "owner": _user(USER_ID, "owner"), "verify_key": "0" * 64, "flags": 0})  # fmt: skip

    async def _gateway_info(self, _: web.Request) -> web.Response:
        return self._json({"url": self.gateway_url, "shards": 1,
                           "session_start_limit": {"total": 1000, "remaining": 999,
                                                   "reset_after": 0, "max_concurrency": 1}})  # fmt: skip

    def _too_many(self, request: web.Request) -> web.Response | None:
        for index, (method, retry_after) in enumerate(self._pending_429):
            if method == request.method:
                del self._pending_429[index]
                self.rate_limited.append(f"{request.method} {request.path}")
                # discord.py treats a 429 without a Via header as a Cloudflare ban (http.py).
                return self._json(
                    {"message": "You are being rate limited.", "retry_after": retry_after,
                     "global": False}, 429, **{"Via": "1.1 google", "X-RateLimit-Remaining": "0",
                     "X-RateLimit-Reset-After": f"{retry_after}", "X-RateLimit-Scope": "user",
                     "Retry-After": f"{max(1, round(retry_after))}"})  # fmt: skip
        return None

    def _invalid_content(self, body: Any) -> web.Response | None:
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return self._error(400, 50006, "Cannot send an empty message")
        if len(content) > LIMIT:
            return self._error(400, 50035, "Invalid Form Body: content must be 2000 or fewer")
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["cid"])
        if channel is None:
            return self._error(404, 10003, "Unknown Channel")
        body = recorded(request).json
        refused = self._too_many(request) or self._invalid_content(body)
        if refused is not None:
            return refused
        message = SeenMessage(self._snowflake(), BOT_ID, body["content"], from_bot=True)
        self._write(message, body)
        channel.messages.append(message)
        payload = self._message_payload(channel, message, self.bot_user)
        await self.dispatch("MESSAGE_CREATE", payload)  # the bot sees its own messages too
        return self._json(payload)

    async def _edit_message(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["cid"])
        found = (
            [m for m in channel.messages if m.id == request.match_info["mid"]] if channel else []
        )
        if channel is None or not found:
            return self._error(404, 10008, "Unknown Message")
        if not found[0].from_bot:
            return self._error(403, 50005, "Cannot edit a message authored by another user")
        body = recorded(request).json
        refused = self._too_many(request) or self._invalid_content(body)
        if refused is not None:
            return refused
        self._write(found[0], body)
        return self._json(self._message_payload(channel, found[0], self.bot_user))

    async def _typing(self, request: web.Request) -> web.Response:
        self.channels[request.match_info["cid"]].typing += 1
        return web.Response(status=204)

    async def _start_thread(self, request: web.Request) -> web.Response:
        parent, message_id = self.channels[request.match_info["cid"]], request.match_info["mid"]
        if self.forbid_threads:
            return self._error(403, 50013, "Missing Permissions")
        if parent.kind != "text":
            return self._error(400, 50024, "Cannot execute action on this channel type")
        if message_id in self.channels:
            return self._error(400, 160004, "A thread has already been created for this message")
        body = recorded(request).json
        thread = FakeChannel(message_id, "thread", parent.guild_id, parent.id, body["name"])
        self.channels[message_id] = thread
        await self.dispatch(
            "THREAD_CREATE", {**self._thread_payload(thread), "newly_created": True}
        )
        return self._json(self._thread_payload(thread), 201)

    @staticmethod
    def _write(message: SeenMessage, body: dict[str, Any]) -> None:
        message.content = body["content"]
        message.writes.append((asyncio.get_running_loop().time(), body["content"]))
        message.bodies.append(body)

    # -- payloads -------------------------------------------------------------------------------

    def _as_delivered(self, data: dict[str, Any]) -> dict[str, Any]:
        """Without the message-content intent, Discord withholds the content of guild messages
        that neither mention the bot nor come from it (PLATFORM_NOTES §1.3)."""
        if self._intents & MESSAGE_CONTENT_INTENT or "guild_id" not in data:
            return data
        if data["author"]["id"] == BOT_ID or any(u["id"] == BOT_ID for u in data["mentions"]):
            return data
        return {**data, "content": ""}

    @staticmethod
    def _message_payload(
        channel: FakeChannel, message: SeenMessage, author: dict[str, Any]
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": message.id, "channel_id": channel.id, "author": author, "content": message.content,
            "timestamp": _now(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "type": 0, "flags": 0,
        }  # fmt: skip
        if channel.guild_id is not None:
            payload["guild_id"] = channel.guild_id
        return payload

    @staticmethod
    def _thread_payload(thread: FakeChannel) -> dict[str, Any]:
        return {"id": thread.id, "guild_id": thread.guild_id, "parent_id": thread.parent_id,
                "owner_id": BOT_ID, "name": thread.name, "type": 11, "last_message_id": None,
                "message_count": 0, "member_count": 1, "rate_limit_per_user": 0, "flags": 0,
                "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                    "archive_timestamp": _now(), "locked": False}}  # fmt: skip

    def _guild_payload(self) -> dict[str, Any]:
        channels: list[dict[str, Any]] = [{"id": c.id, "type": 0, "guild_id": GUILD_ID, "name": c.name, "position": i,
                     "permission_overwrites": [], "parent_id": None, "nsfw": False}
                    for i, c in enumerate(self.channels.values()) if c.kind == "text"]  # fmt: skip
        return {"id": GUILD_ID, "name": "Guild", "unavailable": False, "member_count": 2,
                "roles": [{"id": GUILD_ID, "name": "@everyone", "permissions": "0", "position": 0,
                           "color": 0, "hoist": False, "managed": False, "mentionable": False}],
                "channels": channels, "threads": [self._thread_payload(t) for t in self.threads()]}  # fmt: skip

    # -- gateway --------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        try:
            await self._send(socket, {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}})
            async for frame in socket:
                if frame.type is WSMsgType.TEXT:
                    await self._on_frame(socket, json.loads(frame.data))
        finally:
            self._sockets.discard(socket)
            if self._live is socket:
                self._live = None
        return socket

    async def _on_frame(self, socket: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d") or {}
        if op == 1:  # HEARTBEAT
            await self._send(socket, {"op": 11})
        elif op == 2:  # IDENTIFY: a new session
            self.identifies.append(data)
            if int(data["intents"]) & MESSAGE_CONTENT_INTENT and not self.content_intent_allowed:
                await socket.close(code=4014, message=b"Disallowed intent(s).")
                return
            self._intents, self._seq, self._history = int(data["intents"]), 0, []
            self._session = f"session-{len(self.identifies)}"
            self._live = socket
            await self.dispatch("READY", {"v": 10, "user": self.bot_user,
                                          "guilds": [{"id": GUILD_ID, "unavailable": True}],
                                          "session_id": self._session,
                                          "resume_gateway_url": self.gateway_url,
                                          "application": {"id": APPLICATION_ID, "flags": 0}})  # fmt: skip
            await self.dispatch("GUILD_CREATE", self._guild_payload())
        elif op == 6:  # RESUME: replay what the client missed, then RESUMED
            self.resumes.append(data)
            if self.resume_gate is not None:
                await asyncio.wait_for(self.resume_gate.wait(), 10)
            if data.get("session_id") != self._session or not self._session:
                await self._send(socket, {"op": 9, "d": False})
                return
            self._live = socket
            for missed in [f for f in self._history if f["s"] > (data.get("seq") or 0)]:
                await self._send(socket, missed)
            await self.dispatch("RESUMED", {})

    async def _send(self, socket: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        frame = {"s": None, "t": None, **frame}
        async with self._send_lock:
            if not socket.closed:
                await socket.send_str(json.dumps(frame))

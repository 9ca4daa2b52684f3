"""Loopback fake of the Telegram Bot API (``POST /bot{token}/{method}``).

Usage::

    async with FakeTelegram() as fake:
        app = ApplicationBuilder().token(fake.token).base_url(f"{fake.url}/bot").build()
        update_id = fake.user_message(555, "hello")      # a user writes to the bot
        await fake.wait_for(lambda: fake.bot_messages(555))

It keeps what each user sees: the bot's persisted messages (text as rendered, edits) and the live
drafts per ``(chat, thread, draft_id)``. It answers like Telegram does: ``{"ok": true, "result": …}``
or ``{"ok": false, "error_code": N, "description": "…", "parameters": {"retry_after": s}}``, with
the realistic 400s (unparsable HTML, "message is not modified", drafts outside private chats,
too long), 409 for a second poller, and 429s injected with :meth:`FakeTelegram.flood`.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .base import FakeServer, json_response, recorded

BOT_ID = 7000001
BOT_USERNAME = "HearthTestBot"
TOKEN = f"{BOT_ID}:TEST-token"
MAX_TEXT = 4096
# Form-encoded values PTB sends raw (everything else is JSON-encoded: numbers, lists, objects).
_STRING_FIELDS = frozenset({"text", "parse_mode", "action", "url", "secret_token", "caption"})
_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"code", "pre", "blockquote", "tg-emoji"}
)
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][\w-]*)(\s[^<>]*)?>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|[<>&]|[^<>&]+"
)
_MENTION = re.compile(r"(?<!\w)@\w+")
_COMMAND = re.compile(r"^/\w+(@\w+)?")


class HtmlError(ValueError):
    """What Telegram says about HTML it cannot parse."""


def visible_text(raw: str) -> str:
    """The text Telegram shows for ``parse_mode=HTML`` ``raw``; raises :class:`HtmlError`."""
    out: list[str] = []
    stack: list[str] = []
    for match in _HTML_TOKEN.finditer(raw):
        closing, tag, _attrs, entity = (
            match.group(1),
            match.group(2),
            match.group(3),
            match.group(4),
        )
        if tag is not None:
            name = tag.lower()
            if name not in _TAGS:
                raise HtmlError(f'Unsupported start tag "{name}" at byte offset {match.start()}')
            if not closing:
                stack.append(name)
            elif not stack or stack.pop() != name:
                raise HtmlError(
                    f'Unmatched end tag at byte offset {match.start()}, expected "{name}"'
                )
        elif entity is not None:
            if entity.startswith("#"):
                out.append(html.unescape(f"&{entity};"))
            elif entity in _ENTITIES:
                out.append(_ENTITIES[entity])
            else:
                raise HtmlError(
                    f'Unsupported HTML entity "&{entity};" at byte offset {match.start()}'
                )
        elif match.group(0) in "<>&":
            raise HtmlError(f"Unexpected {match.group(0)!r} at byte offset {match.start()}")
        else:
            out.append(match.group(0))
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_length(text: str) -> int:
    """Telegram counts lengths and entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's server detects itself: ``@mentions`` and a leading ``/command``."""
    found: list[tuple[int, int, str]] = []
    if (command := _COMMAND.match(text)) is not None:
        found.append((0, command.end(), "bot_command"))
    found += [(m.start(), m.end(), "mention") for m in _MENTION.finditer(text)]
    return [
        {
            "type": kind,
            "offset": utf16_length(text[:start]),
            "length": utf16_length(text[start:end]),
        }
        for start, end, kind in found
    ]


class ApiFault(Exception):
    """An error answer: ``{"ok": false, "error_code": …}``."""

    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass
class SentMessage:
    """A message the bot persisted, as the user sees it now."""

    chat_id: int
    message_id: int
    thread_id: int | None
    text: str
    raw: str
    parse_mode: str | None
    reply_to: int | None
    sent_at: float
    edits: int = 0
    edit_times: list[float] = field(default_factory=list)


@dataclass
class Draft:
    """A live draft in a private chat; ``history`` holds every text it showed."""

    chat_id: int
    thread_id: int | None
    draft_id: int
    text: str
    parse_mode: str | None
    history: list[str] = field(default_factory=list)


@dataclass
class Call:
    """One Bot API call with its decoded parameters and when it arrived (loop time)."""

    method: str
    params: dict[str, Any]
    at: float


class FakeTelegram(FakeServer):
    """The Bot API surface Hearth's Telegram channel uses, with a per-chat view of the user side."""

    def __init__(self, *, token: str = TOKEN, username: str = BOT_USERNAME) -> None:
        super().__init__()
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.calls: list[Call] = []
        self.messages: list[SentMessage] = []
        self.drafts: dict[tuple[int, int | None, int], Draft] = {}
        self.actions: list[tuple[int, int | None, str]] = []
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.conflict = False
        """When True, ``getUpdates`` answers 409 as if another instance were polling."""
        self.confirmed = 0
        """Highest ``offset`` a poller sent: updates below it are confirmed and gone."""
        self.updates: dict[int, dict[str, Any]] = {}
        self.delivered: list[int] = []
        """Update ids in the order ``getUpdates`` handed them out (a replay shows up twice)."""
        self._pending: list[tuple[int, dict[str, Any]]] = []  # (push number, update)
        self._pushes = itertools.count()
        self._handed_out: set[int] = set()
        self._arrived = asyncio.Event()
        self._closing = False
        self._update_ids = itertools.count(100001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._method_faults: dict[str, deque[ApiFault]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/bot{token}/{method}", self._handle)]

    async def close(self) -> None:
        """Release held long polls at once, then stop."""
        self._closing = True
        self._arrived.set()
        await super().close()

    # -- the user side ----------------------------------------------------------------------------

    def user_message(
        self,
        chat_id: int,
        text: str,
        *,
        chat_type: str = "private",
        user_id: int | None = None,
        thread_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_bot: bool = False,
        from_bot: bool = False,
    ) -> int:
        """A user (or, with ``from_bot``, another bot) writes ``text``; returns the update id.

        Entities are detected as Telegram's server does unless given. In a forum topic
        (``thread_id``) the message replies to the topic's creation message, as in Telegram.
        """
        chat = self._chat(chat_id, chat_type, forum=thread_id is not None)
        sender = user_id if user_id is not None else (chat_id if chat_type == "private" else 4242)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": sender, "is_bot": from_bot, "first_name": f"User{sender}"},
            "text": text,
        }
        found = auto_entities(text) if entities is None else entities
        if found:
            message["entities"] = found
        if thread_id is not None:
            message |= {"message_thread_id": thread_id, "is_topic_message": True}
            message["reply_to_message"] = self._topic_created(chat, thread_id)
        if reply_to_bot:
            mine = [m for m in self.messages if m.chat_id == chat_id and m.thread_id == thread_id]
            if not mine:
                raise ValueError("the bot has not written in this chat yet")
            message["reply_to_message"] = self._message_json(mine[-1])
        update_id = next(self._update_ids)
        update: dict[str, Any] = {"update_id": update_id, "message": message}
        self.updates[update_id] = update
        self.push(update)
        return update_id

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates``."""
        self._pending.append((next(self._pushes), update))
        self._arrived.set()

    def replay(self, update_id: int) -> None:
        """Deliver an update again, as Telegram does when a poller's confirmation was lost."""
        self.push(self.updates[update_id])

    def flood(self, method: str, retry_after: float, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``retry_after`` seconds."""
        fault = ApiFault(429, f"Too Many Requests: retry after {retry_after:g}", retry_after)
        self._method_faults.setdefault(method, deque()).extend([fault] * times)

    def fail(self, method: str, code: int, description: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with an error."""
        self._method_faults.setdefault(method, deque()).extend(
            [ApiFault(code, description)] * times
        )

    # -- what the user sees -----------------------------------------------------------------------

    def bot_messages(self, chat_id: int, thread_id: int | None = None) -> list[SentMessage]:
        """The bot's persisted messages in one chat (and topic), oldest first."""
        return [m for m in self.messages if m.chat_id == chat_id and m.thread_id == thread_id]

    def drafts_in(self, chat_id: int, thread_id: int | None = None) -> list[Draft]:
        """Live drafts in one chat (and topic)."""
        return [d for d in self.drafts.values() if (d.chat_id, d.thread_id) == (chat_id, thread_id)]

    def calls_of(self, method: str) -> list[Call]:
        """Calls of one Bot API method, in order."""
        return [c for c in self.calls if c.method == method]

    # -- dispatch ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(ApiFault(401, "Unauthorized"))
        params = _params(request)
        self.calls.append(Call(method, params, asyncio.get_running_loop().time()))
        faults = self._method_faults.get(method)
        if faults:
            return _error(faults.popleft())
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(ApiFault(404, "Not Found: method not found"))
        try:
            result = await handler(params)
        except ApiFault as fault:
            return _error(fault)
        return json_response({"ok": True, "result": result})

    async def _api_getMe(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.conflict:
            raise ApiFault(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self.confirmed = max(self.confirmed, offset)
            self._pending = [(n, u) for n, u in self._pending if u["update_id"] >= offset]
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout") or 0)
        while not self._pending and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return []
        batch = self._pending[: int(params.get("limit") or 100)]
        for number, update in batch:
            if number not in self._handed_out:  # unconfirmed updates come again: not a new delivery
                self._handed_out.add(number)
                self.delivered.append(update["update_id"])
        return [update for _, update in batch]

    async def _api_deleteWebhook(self, _params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = list(params["commands"])
        return True

    async def _api_getMyCommands(self, _params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self.actions.append((int(params["chat_id"]), _thread(params), str(params["action"])))
        return True

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, thread_id = int(params["chat_id"]), _thread(params)
        chat = self._known_chat(chat_id, thread_id)
        text, raw, mode = _rendered(params)
        reply = params.get("reply_parameters")
        sent = SentMessage(
            chat_id=chat_id,
            message_id=self._next_message_id(chat_id),
            thread_id=thread_id,
            text=text,
            raw=raw,
            parse_mode=mode,
            reply_to=int(reply["message_id"]) if isinstance(reply, dict) else None,
            sent_at=asyncio.get_running_loop().time(),
        )
        self.messages.append(sent)
        # The persisted message takes the place of the draft that previewed it.
        for key in [k for k in self.drafts if k[:2] == (chat_id, thread_id)]:
            del self.drafts[key]
        return self._message_json(sent, chat)

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        found = [m for m in self.messages if (m.chat_id, m.message_id) == (chat_id, message_id)]
        if not found:
            raise ApiFault(400, "Bad Request: message to edit not found")
        message = found[0]
        text, raw, mode = _rendered(params)
        if (text, raw, mode) == (message.text, message.raw, message.parse_mode):
            raise ApiFault(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message.text, message.raw, message.parse_mode = text, raw, mode
        message.edits += 1
        message.edit_times.append(asyncio.get_running_loop().time())
        return {**self._message_json(message), "edit_date": int(time.time())}

    async def _api_sendMessageDraft(self, params: dict[str, Any]) -> bool:
        chat_id, thread_id = int(params["chat_id"]), _thread(params)
        if self._chats.get(chat_id, {}).get("type") != "private":
            raise ApiFault(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        draft_id = int(params["draft_id"])
        if draft_id == 0:
            raise ApiFault(400, "Bad Request: draft_id must be non-zero")
        text, _raw, mode = _rendered(params, allow_empty=True)
        key = (chat_id, thread_id, draft_id)
        draft = self.drafts.setdefault(key, Draft(chat_id, thread_id, draft_id, text, mode))
        draft.text, draft.parse_mode = text, mode
        draft.history.append(text)
        return True

    # -- state helpers ----------------------------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Hearth",
            "username": self.username,
        }

    def _chat(self, chat_id: int, chat_type: str, *, forum: bool) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = f"User{chat_id}"
            else:
                chat["title"] = f"Group {chat_id}"
            self._chats[chat_id] = chat
        if forum and chat_type != "private":
            chat["is_forum"] = True
        return chat

    def _known_chat(self, chat_id: int, thread_id: int | None) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ApiFault(400, "Bad Request: chat not found")
        if thread_id is not None and chat["type"] != "private" and not chat.get("is_forum"):
            raise ApiFault(400, "Bad Request: message thread not found")
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _topic_created(self, chat: dict[str, Any], thread_id: int) -> dict[str, Any]:
        return {
            "message_id": thread_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": 4242, "is_bot": False, "first_name": "Admin"},
            "message_thread_id": thread_id,
            "forum_topic_created": {"name": f"Topic {thread_id}", "icon_color": 7322096},
        }

    def _message_json(
        self, message: SentMessage, chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": chat or self._chats[message.chat_id],
            "from": self._bot_user(),
            "text": message.text,
        }
        if message.thread_id is not None:
            data |= {"message_thread_id": message.thread_id, "is_topic_message": True}
        return data


def _params(request: web.Request) -> dict[str, Any]:
    """Decode a JSON or form body; PTB form-encodes nested values as JSON strings."""
    record = recorded(request)
    if isinstance(record.json, dict):
        return dict(record.json)
    params: dict[str, Any] = {}
    for name, value in parse_qsl(record.body.decode(), keep_blank_values=True):
        if name in _STRING_FIELDS:
            params[name] = value
            continue
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def _thread(params: dict[str, Any]) -> int | None:
    value = params.get("message_thread_id")
    return None if value is None else int(value)


def _rendered(params: dict[str, Any], *, allow_empty: bool = False) -> tuple[str, str, str | None]:
    """(visible text, raw text, parse mode) of a send or edit, validated as Telegram does."""
    raw = str(params.get("text") or "")
    mode = params.get("parse_mode")
    text = raw
    if mode == "HTML":
        try:
            text = visible_text(raw)
        except HtmlError as exc:
            raise ApiFault(400, f"Bad Request: can't parse entities: {exc}") from None
    elif mode is not None:
        raise ApiFault(400, f"Bad Request: unsupported parse_mode {mode!r} in this fake")
    if not text.strip() and not allow_empty:
        raise ApiFault(400, "Bad Request: message text is empty")
    if utf16_length(text) > MAX_TEXT:
        raise ApiFault(400, "Bad Request: message is too long")
    return text, raw, mode


def _error(fault: ApiFault) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": fault.code, "description": fault.description}
    if fault.retry_after is not None:
        body["parameters"] = {"retry_after": fault.retry_after}
    return json_response(body, status=fault.code)

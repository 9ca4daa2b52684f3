"""Anthropic Messages API provider (streaming, tools, prompt caching).

The only module that imports ``anthropic``. It renders a :class:`ModelRequest` with up to three cache
breakpoints: the end of the system block (covering tools and system), the last prior message, and
the new last message (so the next turn reads everything up to here from the cache).

The SDK sends the request (auth, retries, status errors); the response's event stream is decoded
(:mod:`agent.providers.sse`) and folded here from plain JSON, without the SDK's event models.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from agent.errors import ProviderError
from agent.messages import ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock
from agent.providers.anthropic_events import ERROR_TYPES, EventFold
from agent.providers.base import client_options, kind_for_status, retry_after_seconds
from agent.providers.sse import SSEDecoder
from agent.request import (
    ModelRequest,
    ProviderEvent,
    TextDelta,
    ToolSpec,
)
from config import ProviderSettings


class AnthropicProvider:
    """A named Anthropic endpoint."""

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        options = client_options(settings)
        # aiohttp under the SDK (its ``aiohttp`` extra): a third less CPU per streamed call than
        # the default httpx transport (PERFORMANCE.md). Its session opens at the first request.
        self._encoder = RequestEncoder()
        self._client = anthropic.AsyncAnthropic(
            **options, http_client=anthropic.DefaultAioHttpClient()
        )
        self._messages_url = messages_url(str(self._client.base_url))

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        await self._client.close()

    async def probe(self) -> None:
        """List one model (free, no completion); see :meth:`ModelProvider.probe`."""
        try:
            # No SDK retries: the heartbeat asks again at its next beat.
            await self._client.with_options(max_retries=0).models.list(limit=1)
        except anthropic.APIError as exc:
            raise translate_error(exc) from exc
        except httpx2.TransportError as exc:
            raise ProviderError(
                f"anthropic: connection failed ({type(exc).__name__})",
                kind="connection",
                retryable=True,
            ) from exc

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one response; see :class:`agent.providers.base.ModelProvider`."""
        fold = EventFold()
        try:
            # The SDK's own request path (auth, versions, retries, 4xx/5xx as its status errors)
            # with a body we serialise ourselves (``messages.create`` copies the whole params
            # tree before encoding it), and the response's bytes decoded and folded here: the
            # SDK's stream builds a pydantic model of every event, most of the time from the
            # response headers to the first text (PERFORMANCE.md). With ``cast_to`` the raw
            # response, the SDK hands back the open ``httpx2.Response`` once its status was a
            # success (``_process_response``); every other status went through its retries.
            response = await self._client.post(
                self._messages_url,
                cast_to=httpx2.Response,
                content=self._encoder.encode(request),
                stream=True,
            )
            try:
                decoder = SSEDecoder()
                async for chunk in response.aiter_bytes():
                    for event in decoder.feed(chunk):
                        text = fold.add(event, response.headers)
                        if text:
                            yield TextDelta(text)
            finally:
                await response.aclose()
        except anthropic.APIError as exc:
            raise translate_error(exc) from exc
        except httpx2.TimeoutException as exc:
            # The read timeout between two chunks; it surfaces unwrapped from the SDK.
            raise ProviderError(
                "anthropic: the stream timed out", kind="timeout", retryable=True
            ) from exc
        except httpx2.TransportError as exc:
            # A connection cut mid-stream surfaces unwrapped from the SDK.
            raise ProviderError(
                f"anthropic: connection lost ({type(exc).__name__})",
                kind="connection",
                retryable=True,
            ) from exc
        if not fold.stopped:
            # The body ended cleanly but before ``message_stop``: the answer is cut short.
            raise ProviderError(
                "anthropic: the stream ended before message_stop", kind="connection", retryable=True
            )
        for call in fold.tool_calls():
            yield call
        yield fold.done(request.model)


def messages_url(base_url: str) -> str:
    """The Messages endpoint under ``base_url`` (a gateway's path prefix kept), absolute: the SDK
    then parses it as it is instead of joining a relative path to its base on every request."""
    return f"{base_url.rstrip('/')}/v1/messages"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RequestEncoder:
    """JSON bodies of streamed Messages calls, each part encoded once.

    The head of every request of a profile (system block and tool definitions) is the same byte
    for byte, turn after turn (that is what the prompt cache reads), so its JSON is encoded once
    and kept for the last ``keep`` (system, ttl, tools) triples. A transcript only grows by a
    message or two a turn and its messages are immutable, so the JSON of each message is kept
    too, for the last ``keep_messages`` messages used: a turn encodes only its new messages. The
    two messages that carry a cache breakpoint get it spliced into their kept JSON. The bound
    keeps this to ~1.5 MB (measured: ~0.7 KB per kept message); with more conversations active
    than it covers, older ones are simply encoded again.
    """

    def __init__(self, keep: int = 16, keep_messages: int = 2048) -> None:
        self._keep = keep
        self._keep_messages = keep_messages
        self._heads: OrderedDict[tuple[str, str, int], tuple[tuple[ToolSpec, ...], str]] = (
            OrderedDict()
        )
        # Keyed by id(); the entry holds its message, so the id cannot be reused while the
        # entry lives (ChatMessage has slots and no weak references, and it is not hashable
        # when a tool call's arguments are in it).
        self._messages: OrderedDict[int, tuple[ChatMessage, str]] = OrderedDict()
        self._marks: dict[str, str] = {}

    def encode(self, request: ModelRequest) -> bytes:
        """The body for ``request``: the same JSON as :func:`render_request` plus ``stream``."""
        messages = request.messages
        parts = [self._message(m) for m in messages]
        mark = self._marks.get(request.cache_ttl)
        if mark is None:
            cache_control = _cache_control(request)
            mark = self._marks[request.cache_ttl] = f',"cache_control":{_dumps(cache_control)}'
        # The breakpoints of render_request: the last key of the last content block of the
        # last two messages, i.e. just before the closing ``}]}``. A message without content
        # (ending in ``[]}``) gets none.
        for index in range(max(0, len(parts) - 2), len(parts)):
            part = parts[index]
            if part.endswith("}]}"):
                parts[index] = f"{part[:-3]}{mark}}}]}}"
        return (
            f'{{"model":{_dumps(request.model)},"max_tokens":{request.max_output_tokens},'
            f'"stream":true,{self._head(request)}"messages":[{",".join(parts)}]}}'
        ).encode()

    def _message(self, message: ChatMessage) -> str:
        key = id(message)
        entry = self._messages.get(key)
        if entry is not None and entry[0] is message:
            self._messages.move_to_end(key)
            return entry[1]
        text = _dumps(_render_message(message))
        self._messages[key] = (message, text)
        if len(self._messages) > self._keep_messages:
            self._messages.popitem(last=False)
        return text

    def _head(self, request: ModelRequest) -> str:
        # Keyed by the tools tuple's identity (the registry hands out the same one every turn),
        # which the entry holds on to, so the id cannot be reused while the entry lives.
        key = (request.system, request.cache_ttl, id(request.tools))
        entry = self._heads.get(key)
        if entry is not None and entry[0] is request.tools:
            self._heads.move_to_end(key)
            return entry[1]
        head = _render_head(request)
        text = f'"system":{_dumps(head["system"])},'
        if "tools" in head:
            text += f'"tools":{_dumps(head["tools"])},'
        self._heads[key] = (request.tools, text)
        if len(self._heads) > self._keep:
            self._heads.popitem(last=False)
        return text


def render_request(request: ModelRequest) -> dict[str, Any]:
    """The parameters of a Messages call for ``request``, cache breakpoints placed."""
    cache_control = _cache_control(request)
    messages = [_render_message(m) for m in request.messages]
    # Breakpoints on the last prior message and on the new message (DESIGN.md §5); the one at
    # the end of the system block makes three, under the API's limit of four.
    for index in {len(messages) - 2, len(messages) - 1}:
        if index >= 0 and messages[index]["content"]:
            messages[index]["content"][-1]["cache_control"] = cache_control
    return {
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        **_render_head(request),
        "messages": messages,
    }


def _cache_control(request: ModelRequest) -> dict[str, str]:
    """A cache breakpoint with the request's lifetime."""
    return {"type": "ephemeral", "ttl": request.cache_ttl}


def _render_head(request: ModelRequest) -> dict[str, Any]:
    """The system block (with its cache breakpoint) and the tool definitions."""
    cache_control = _cache_control(request)
    head: dict[str, Any] = {
        "system": [{"type": "text", "text": request.system, "cache_control": cache_control}]
    }
    if request.tools:
        head["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.canonical_schema()}
            for t in request.tools
        ]
    return head


def _render_message(message: ChatMessage) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in message.blocks:
        match block:
            case TextBlock(text):
                content.append({"type": "text", "text": text})
            case ToolUseBlock(id_, name, arguments):
                content.append({"type": "tool_use", "id": id_, "name": name, "input": arguments})
            case ToolResultBlock(tool_use_id, text, is_error):
                content.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": tool_use_id,
                        "content": text,
                        "is_error": is_error,
                    }
                )
    return {"role": message.role, "content": content}


def translate_error(exc: anthropic.APIError) -> ProviderError:
    """Map an SDK exception onto our error tree (the one place that knows the SDK's classes)."""
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError("anthropic: request timed out", kind="timeout", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError("anthropic: connection failed", kind="connection", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        kind, retryable = kind_for_status(status)
        if exc.type is not None and exc.type in ERROR_TYPES:
            kind, retryable = ERROR_TYPES[exc.type]
        return ProviderError(
            f"anthropic: HTTP {status} {exc.type or ''}".strip(),
            kind=kind,
            retryable=retryable,
            retry_after=retry_after_seconds(exc.response.headers),
            status=status,
        )
    return ProviderError(f"anthropic: {type(exc).__name__}", kind="stream", retryable=True)

"""Anthropic Messages API provider (streaming, tools, prompt caching).

The only module that imports ``anthropic``. It renders a :class:`ModelRequest` with up to three cache
breakpoints: the end of the system block (covering tools and system), the last prior message, and
the new last message (so the next turn reads everything up to here from the cache).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic import types

from agent.errors import ProviderError
from agent.messages import ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock, Usage
from agent.providers.base import kind_for_status, parse_tool_arguments, retry_after_seconds
from agent.request import (
    ModelRequest,
    ProviderEvent,
    ResponseDone,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
)
from config import ProviderSettings

# Error ``type`` values of the Messages API that map to a kind of ours (documented error types).
_ERROR_TYPES: dict[str, tuple[str, bool]] = {
    "overloaded_error": ("overloaded", True),
    "rate_limit_error": ("rate_limit", True),
    "api_error": ("server", True),
    "timeout_error": ("timeout", True),
    "authentication_error": ("auth", False),
    "permission_error": ("auth", False),
    "invalid_request_error": ("bad_request", False),
    "not_found_error": ("bad_request", False),
    "request_too_large": ("bad_request", False),
}


class AnthropicProvider:
    """A named Anthropic endpoint."""

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        options: dict[str, Any] = {
            "timeout": settings.timeout.total_seconds(),
            "max_retries": settings.max_retries,
        }
        if settings.api_key is not None:
            options["api_key"] = settings.api_key.get_secret_value()
        if settings.base_url is not None:
            options["base_url"] = settings.base_url
        # aiohttp under the SDK (its ``aiohttp`` extra): a third less CPU per streamed call than
        # the default httpx transport (PERFORMANCE.md). Its session opens at the first request.
        self._encoder = RequestEncoder()
        self._client = anthropic.AsyncAnthropic(
            **options, http_client=anthropic.DefaultAioHttpClient()
        )

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
        fold = _Fold()
        try:
            # The SDK's own request path (auth, versions, retries, errors, SSE) with a body we
            # serialise ourselves: ``messages.create`` copies the whole params tree before
            # encoding it, a third of the SDK's time per call. And the raw event stream, folded
            # here: the ``messages.stream()`` helper rebuilds a message snapshot for every delta,
            # which doubled the CPU per call (PERFORMANCE.md).
            events = await self._client.post(
                "/v1/messages",
                cast_to=types.Message,
                content=self._encoder.encode(request),
                stream=True,
                stream_cls=anthropic.AsyncStream[types.RawMessageStreamEvent],
            )
            async with events:
                async for event in events:
                    text = fold.add(event)
                    if text:
                        yield TextDelta(text)
        except anthropic.APIError as exc:
            raise translate_error(exc) from exc
        except httpx2.TransportError as exc:
            # A connection cut mid-stream surfaces unwrapped from the SDK.
            raise ProviderError(
                f"anthropic: connection lost ({type(exc).__name__})",
                kind="connection",
                retryable=True,
            ) from exc
        for call in fold.tool_calls():
            yield call
        yield fold.done(request.model)


@dataclass
class _PendingTool:
    id: str
    name: str
    parts: list[str] = field(default_factory=list)


@dataclass
class _Fold:
    """What a raw Messages event stream adds up to: usage, stop reason, tool calls."""

    model: str = ""
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    tools: dict[int, _PendingTool] = field(default_factory=dict)

    def add(self, event: types.RawMessageStreamEvent) -> str:
        """Take one event; return its answer text ("" for events that carry none)."""
        if isinstance(event, types.RawContentBlockDeltaEvent):
            delta = event.delta
            if isinstance(delta, types.TextDelta):
                return delta.text
            if isinstance(delta, types.InputJSONDelta) and event.index in self.tools:
                self.tools[event.index].parts.append(delta.partial_json)
        elif isinstance(event, types.RawContentBlockStartEvent):
            block = event.content_block
            if isinstance(block, types.ToolUseBlock):
                self.tools[event.index] = _PendingTool(block.id, block.name)
        elif isinstance(event, types.RawMessageStartEvent):
            message = event.message
            self.model = message.model
            self._usage(message.usage)
        elif isinstance(event, types.RawMessageDeltaEvent):
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self._usage(event.usage)
        return ""

    def _usage(self, usage: types.Usage | types.MessageDeltaUsage) -> None:
        # ``message_delta`` repeats the counts cumulatively; a None there means "unchanged".
        if usage.input_tokens is not None:
            self.input_tokens = usage.input_tokens
        if usage.output_tokens is not None:
            self.output_tokens = usage.output_tokens
        if usage.cache_read_input_tokens is not None:
            self.cache_read = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens is not None:
            self.cache_write = usage.cache_creation_input_tokens

    def tool_calls(self) -> list[ToolCallRequest]:
        """The tool calls of the response, in block order."""
        return [
            ToolCallRequest(tool.id, tool.name, parse_tool_arguments("".join(tool.parts)))
            for _, tool in sorted(self.tools.items())
        ]

    def done(self, requested_model: str) -> ResponseDone:
        """The closing event: usage (input counts every prompt token), stop reason, model."""
        return ResponseDone(
            usage=Usage(
                input_tokens=self.input_tokens + self.cache_read + self.cache_write,
                output_tokens=self.output_tokens,
                cache_read_tokens=self.cache_read,
                cache_write_tokens=self.cache_write,
            ),
            stop_reason=self.stop_reason or "end_turn",
            model=self.model or requested_model,
        )


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RequestEncoder:
    """JSON bodies of streamed Messages calls.

    The head of every request of a profile (system block and tool definitions) is the same byte
    for byte, turn after turn (that is what the prompt cache reads), so its JSON is encoded once
    and kept for the last few (system, tools) pairs.
    """

    def __init__(self, keep: int = 16) -> None:
        self._keep = keep
        self._heads: OrderedDict[tuple[str, str, int], tuple[tuple[ToolSpec, ...], str]] = (
            OrderedDict()
        )

    def encode(self, request: ModelRequest) -> bytes:
        """The body for ``request``: the same JSON as :func:`render_request` plus ``stream``."""
        params = render_request(request, head=False)
        return (
            f'{{"model":{_dumps(request.model)},"max_tokens":{request.max_output_tokens},'
            f'"stream":true,{self._head(request)}"messages":{_dumps(params["messages"])}}}'
        ).encode()

    def _head(self, request: ModelRequest) -> str:
        # Keyed by the tools tuple's identity (the registry hands out the same one every turn),
        # which the entry holds on to, so the id cannot be reused while the entry lives.
        key = (request.system, request.cache_ttl, id(request.tools))
        entry = self._heads.get(key)
        if entry is not None and entry[0] is request.tools:
            self._heads.move_to_end(key)
            return entry[1]
        head = render_request(request)
        text = f'"system":{_dumps(head["system"])},'
        if "tools" in head:
            text += f'"tools":{_dumps(head["tools"])},'
        self._heads[key] = (request.tools, text)
        if len(self._heads) > self._keep:
            self._heads.popitem(last=False)
        return text


def render_request(request: ModelRequest, *, head: bool = True) -> dict[str, Any]:
    """The parameters of a Messages call for ``request``, cache breakpoints placed (without
    the system block and tools when ``head`` is false)."""
    cache_control = {"type": "ephemeral", "ttl": request.cache_ttl}
    messages = [_render_message(m) for m in request.messages]
    # Breakpoints on the last prior message and on the new message (DESIGN.md §5); the system
    # breakpoint below makes three, under the API's limit of four.
    for index in {len(messages) - 2, len(messages) - 1}:
        if index >= 0 and messages[index]["content"]:
            messages[index]["content"][-1]["cache_control"] = cache_control
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "messages": messages,
    }
    if not head:
        return params
    params["system"] = [{"type": "text", "text": request.system, "cache_control": cache_control}]
    if request.tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.canonical_schema()}
            for t in request.tools
        ]
    return params


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
        if exc.type is not None and exc.type in _ERROR_TYPES:
            kind, retryable = _ERROR_TYPES[exc.type]
        return ProviderError(
            f"anthropic: HTTP {status} {exc.type or ''}".strip(),
            kind=kind,
            retryable=retryable,
            retry_after=retry_after_seconds(exc.response.headers),
            status=status,
        )
    return ProviderError(f"anthropic: {type(exc).__name__}", kind="stream", retryable=True)

"""OpenAI Chat Completions provider, also for any OpenAI-compatible server (Ollama, vLLM, ...).

The only module that imports ``openai``. OpenAI caches prompt prefixes automatically; we keep the
prefix byte-stable and pass ``prompt_cache_key`` so turns of one conversation land on the same cache.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from agent.errors import ProviderError
from agent.messages import ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock, Usage
from agent.providers.base import (
    client_options,
    kind_for_status,
    parse_tool_arguments,
    retry_after_seconds,
)
from agent.request import (
    ModelRequest,
    ProviderEvent,
    ResponseDone,
    TextDelta,
    ToolCallRequest,
)
from config import ProviderSettings


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIProvider:
    """A named OpenAI or OpenAI-compatible endpoint."""

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        options = client_options(settings)
        # aiohttp under the SDK (its ``aiohttp`` extra), as for Anthropic: less CPU per call.
        self._client = openai.AsyncOpenAI(**options, http_client=openai.DefaultAioHttpClient())

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        await self._client.close()

    async def probe(self) -> None:
        """List the models (free, no completion); see :meth:`ModelProvider.probe`."""
        try:
            # No SDK retries: the heartbeat asks again at its next beat.
            await self._client.with_options(max_retries=0).models.list()
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        except httpx2.TransportError as exc:
            raise ProviderError(
                f"openai: connection failed ({type(exc).__name__})",
                kind="connection",
                retryable=True,
            ) from exc

    async def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Stream one response; see :class:`agent.providers.base.ModelProvider`."""
        calls: dict[int, _PendingCall] = {}
        usage = Usage()
        finish = "stop"
        model = request.model
        try:
            stream = await self._client.chat.completions.create(**render_request(request))
            async with stream:
                async for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            yield TextDelta(delta.content)
                        for fragment in delta.tool_calls or ():
                            pending = calls.setdefault(fragment.index, _PendingCall())
                            pending.id = fragment.id or pending.id
                            if fragment.function is not None:
                                pending.name = fragment.function.name or pending.name
                                pending.arguments.append(fragment.function.arguments or "")
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        except httpx2.TransportError as exc:
            # A connection cut mid-stream surfaces unwrapped from the SDK.
            raise ProviderError(
                f"openai: connection lost ({type(exc).__name__})", kind="connection", retryable=True
            ) from exc
        for index in sorted(calls):
            call = calls[index]
            yield ToolCallRequest(call.id, call.name, parse_tool_arguments("".join(call.arguments)))
        yield ResponseDone(usage=usage, stop_reason=finish, model=model)


def _usage(raw: Any) -> Usage:
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    written = getattr(details, "cache_write_tokens", None) or 0
    return Usage(
        input_tokens=raw.prompt_tokens or 0,
        output_tokens=raw.completion_tokens or 0,
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def render_request(request: ModelRequest) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for ``request``."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": request.system}]
    for message in request.messages:
        messages.extend(_render_message(message))
    params: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": request.max_output_tokens,
        "prompt_cache_key": request.cache_key,
    }
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.canonical_schema(),
                },
            }
            for t in request.tools
        ]
    return params


def _render_message(message: ChatMessage) -> list[dict[str, Any]]:
    texts = [b.text for b in message.blocks if isinstance(b, TextBlock)]
    if message.role == "assistant":
        rendered: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
        calls = [
            {
                "id": b.id,
                "type": "function",
                "function": {"name": b.name, "arguments": json.dumps(b.arguments, sort_keys=True)},
            }
            for b in message.blocks
            if isinstance(b, ToolUseBlock)
        ]
        if calls:
            rendered["tool_calls"] = calls
        return [rendered]
    result: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": b.tool_use_id, "content": b.content}
        for b in message.blocks
        if isinstance(b, ToolResultBlock)
    ]
    if texts:
        result.append({"role": "user", "content": [{"type": "text", "text": t} for t in texts]})
    return result


def translate_error(exc: openai.APIError) -> ProviderError:
    """Map an SDK exception onto our error tree (the one place that knows the SDK's classes)."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("openai: request timed out", kind="timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("openai: connection failed", kind="connection", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        kind, retryable = kind_for_status(exc.status_code)
        return ProviderError(
            f"openai: HTTP {exc.status_code}",
            kind=kind,
            retryable=retryable,
            retry_after=retry_after_seconds(exc.response.headers),
            status=exc.status_code,
        )
    # An error object inside the stream (the HTTP status was already 200).
    return ProviderError("openai: error in stream", kind="stream", retryable=True)

"""Loopback fake of the Anthropic Messages API (``POST /v1/messages``, SSE or JSON).

Usage::

    async with FakeAnthropic() as fake:
        fake.script(Reply(Text("Hello"), ToolCall("time", {"tz": "UTC"})))
        client = anthropic.AsyncAnthropic(api_key="x", base_url=fake.url, max_retries=0)
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any, ClassVar

from aiohttp import web

from .base import RecordedRequest, json_response, recorded
from .cache import AnthropicPromptCache, PromptBlock, breakpoint_positions, render_blocks
from .latency import Prefill, SimulatedLatency, mark_emitted
from .script import ApiError, Reply, StreamError, Text, ToolCall, estimate_tokens
from .scripted import ERROR_STATUS, ScriptedFake

MAX_BREAKPOINTS = 4


class FakeAnthropic(ScriptedFake):
    """Scripted Messages API with prompt-cache emulation (see :mod:`.cache`)."""

    chat_paths: ClassVar[frozenset[str]] = frozenset({"/v1/messages"})
    latency: SimulatedLatency | None = None
    """Set it to simulate a provider's timing (see :mod:`.latency`); None answers at once."""

    def __init__(
        self,
        *,
        min_cacheable_tokens: int = 0,
        models: tuple[str, ...] = ("claude-fake",),
        delta_interval: float = 0.0,
    ) -> None:
        """``models`` are listed by ``GET /v1/models``; ``delta_interval`` seconds pass between
        streamed text deltas (a slow model, for tests that act mid-stream)."""
        super().__init__()
        self.models = models
        self.delta_interval = delta_interval
        self._cache = AnthropicPromptCache(min_cacheable_tokens)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self._messages),
            web.post("/v1/messages/count_tokens", self._count_tokens),
            web.get("/v1/models", self._models),
        ]

    # -- prompt inspection ----------------------------------------------------------

    def blocks(self, request: RecordedRequest) -> list[PromptBlock]:
        """The request's prompt as rendered blocks (tools, system, messages)."""
        body = request.json
        return render_blocks(body) if isinstance(body, dict) else []

    def breakpoints(self, request: RecordedRequest) -> int:
        """Number of cache breakpoints (blocks with ``cache_control``) in the request."""
        return len(breakpoint_positions(self.blocks(request)))

    def _upto(self, request: RecordedRequest, upto_breakpoint: int | None) -> list[PromptBlock]:
        blocks = self.blocks(request)
        if upto_breakpoint is None:
            return blocks
        positions = breakpoint_positions(blocks)
        try:
            return blocks[: positions[upto_breakpoint]]
        except IndexError:
            raise IndexError(
                f"request has {len(positions)} breakpoint(s), asked for #{upto_breakpoint}"
            ) from None

    def prompt_bytes(self, request: RecordedRequest, upto_breakpoint: int | None = None) -> bytes:
        """Canonical prompt bytes, all or up to and including the N-th breakpoint (-1 = last)."""
        return b"".join(block.data for block in self._upto(request, upto_breakpoint))

    def prompt_tokens(self, request: RecordedRequest, upto_breakpoint: int | None = None) -> int:
        """Estimated prompt tokens, all or up to and including the N-th breakpoint."""
        return sum(block.tokens for block in self._upto(request, upto_breakpoint))

    # -- handlers -----------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        limit = int(request.query.get("limit", "20"))
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model,
                "created_at": "2026-01-01T00:00:00Z",
                "lifecycle": "active",
            }
            for model in self.models[:limit]
        ]
        return json_response(
            {
                "data": data,
                "has_more": len(self.models) > limit,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = recorded(request).json
        if not isinstance(body, dict):
            return self._error(400, "invalid_request_error", "body must be a JSON object")
        return json_response({"input_tokens": sum(b.tokens for b in render_blocks(body))})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = recorded(request).json
        problem = _validate(body)
        if problem is not None:
            return self._error(400, "invalid_request_error", problem)
        assert isinstance(body, dict)
        item = self.next_script(body)
        if isinstance(item, ApiError):
            return self._error(item.status, item.type, item.message, item.headers())
        model = str(body["model"])
        usage: dict[str, Any] = self._cache.account(model, render_blocks(body)).as_dict()
        prefill = None
        if self.latency is not None:  # prefill: cache writes cost as much as plain input
            uncached = usage["input_tokens"] + usage["cache_creation_input_tokens"]
            prefill = partial(
                self.latency.first_token,
                body,
                uncached=uncached,
                cached=usage["cache_read_input_tokens"],
            )
        if not body.get("stream"):
            if prefill is not None:
                await prefill()
            if isinstance(item, StreamError):
                return self._error(ERROR_STATUS.get(item.type, 500), item.type, item.message)
            await item.emulate_latency()
            usage["output_tokens"] = item.output_tokens()
            self.usages.append(usage)
            return json_response(self._message(model, item, usage), headers=self._headers())
        return await self._stream(request, model, item, usage, prefill=prefill)

    # -- rendering ----------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"request-id": self.next_id("req_")}

    def _error(
        self, status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        request_id = self.next_id("req_")
        payload = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }
        return json_response(
            payload, status=status, headers={"request-id": request_id, **(headers or {})}
        )

    def _tool_id(self, call: ToolCall) -> str:
        return call.id or self.next_id("toolu_")

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        return reply.stop or ("tool_use" if reply.has_tool_call else "end_turn")

    def _message(self, model: str, reply: Reply, usage: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for part in reply.parts:
            if isinstance(part, Text):
                content.append({"type": "text", "text": part.text})
            else:
                content.append(
                    {
                        "type": "tool_use",
                        "id": self._tool_id(part),
                        "name": part.name,
                        "input": part.arguments,
                    }
                )
        return {
            "id": self.next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": self._stop_reason(reply),
            "stop_sequence": None,
            "usage": usage,
        }

    async def _stream(
        self,
        request: web.Request,
        model: str,
        item: Reply | StreamError,
        usage: dict[str, Any],
        *,
        prefill: Prefill | None = None,
    ) -> web.StreamResponse:
        """The answer as an event stream. Like the API, the headers and ``message_start`` leave
        at once and the simulated time to first token (``prefill``) passes before the content."""
        response = web.StreamResponse(headers={**self._headers(), "cache-control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        start: dict[str, Any] = {
            "id": self.next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
        }
        start |= {
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage | {"output_tokens": 1},
        }
        await send("message_start", {"type": "message_start", "message": start})
        timed = None if prefill is None else await prefill()
        parts = item.parts if isinstance(item, Reply) else (item.after,)
        if not parts:
            await send("ping", {"type": "ping"})
        for index, part in enumerate(parts):
            if isinstance(part, Text):
                block: dict[str, Any] = {"type": "text", "text": ""}
                delta_type, key, pieces = "text_delta", "text", part.deltas()
            else:
                block = {
                    "type": "tool_use",
                    "id": self._tool_id(part),
                    "name": part.name,
                    "input": {},
                }
                delta_type, key, pieces = "input_json_delta", "partial_json", part.fragments()
            await send(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
            if index == 0:
                await send("ping", {"type": "ping"})
            if isinstance(part, Text):
                await part.before_first_delta()
            for number, piece in enumerate(pieces):
                if number and self.delta_interval > 0:
                    await asyncio.sleep(self.delta_interval)
                if number and self.latency is not None:
                    await self.latency.next_delta(piece)
                delta = {"type": delta_type, key: piece}
                await send(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                mark_emitted(timed)
            if isinstance(item, StreamError):
                await send(
                    "error",
                    {"type": "error", "error": {"type": item.type, "message": item.message}},
                )
                self.usages.append(usage | {"output_tokens": estimate_tokens(len(item.after.text))})
                await response.write_eof()
                return response
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        assert isinstance(item, Reply)
        final = {**usage, "output_tokens": item.output_tokens()}
        self.usages.append(final)
        delta_usage = {
            k: final[k]
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        }
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop_reason(item), "stop_sequence": None},
                "usage": {**delta_usage, "output_tokens": final["output_tokens"]},
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    found = len(breakpoint_positions(render_blocks(body)))
    if found > MAX_BREAKPOINTS:
        limit = MAX_BREAKPOINTS
        return f"A maximum of {limit} blocks with cache_control may be provided. Found {found}."
    return None

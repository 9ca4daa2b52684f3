"""Loopback fake of the OpenAI Chat Completions API (``POST /v1/chat/completions``).

Usage::

    async with FakeOpenAI() as fake:
        fake.script(Reply(Text("Hello")))
        client = openai.AsyncOpenAI(api_key="x", base_url=fake.url + "/v1", max_retries=0)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
from functools import partial
from typing import Any, ClassVar

from aiohttp import web

from .base import RecordedRequest, json_response, recorded
from .cache import OpenAIPrefixCache, render_prompt
from .latency import Prefill, SimulatedLatency, mark_emitted
from .script import ApiError, Reply, StreamError, Text, ToolCall, estimate_tokens
from .scripted import ERROR_STATUS, ScriptedFake

EMBEDDING_DIMS = 64
_WORD = re.compile(r"\w+")


def fake_embedding(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """The fake's deterministic embedding: each word (lower-cased, a trailing "s" dropped) adds
    +1 or -1 at a position picked by its hash, so texts sharing words have a high cosine and
    texts sharing none have a cosine near 0."""
    vector = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word.removesuffix("s").encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dims
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    return vector


def _error_body(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class FakeOpenAI(ScriptedFake):
    """Scripted Chat Completions API with automatic prefix-cache emulation."""

    chat_paths: ClassVar[frozenset[str]] = frozenset({"/v1/chat/completions"})
    latency: SimulatedLatency | None = None
    """Set it to simulate a provider's timing (see :mod:`.latency`); None answers at once."""

    def __init__(self, *, models: tuple[str, ...] = ("gpt-fake",)) -> None:
        super().__init__()
        self.models = models
        self._cache = OpenAIPrefixCache()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._completions),
            web.get("/v1/models", self._models),
            web.post("/v1/embeddings", self._embeddings),
        ]

    # -- prompt inspection ----------------------------------------------------------

    def prompt_bytes(self, request: RecordedRequest) -> bytes:
        """Canonical prompt bytes (tools, then messages) used for cache emulation."""
        return render_prompt(request.json) if isinstance(request.json, dict) else b""

    def prompt_cache_keys(self) -> list[str | None]:
        """``prompt_cache_key`` of each model request (``None`` when absent)."""
        return [
            r.json.get("prompt_cache_key") if isinstance(r.json, dict) else None
            for r in self.chat_requests()
        ]

    def embedding_requests(self) -> list[RecordedRequest]:
        """Recorded ``/v1/embeddings`` requests (faulted ones included)."""
        return [r for r in self.requests if r.path == "/v1/embeddings"]

    def embedded_texts(self) -> list[str]:
        """Every text sent to ``/v1/embeddings``, in order."""
        texts: list[str] = []
        for request in self.embedding_requests():
            value = request.json.get("input") if isinstance(request.json, dict) else None
            texts += [value] if isinstance(value, str) else list(value or [])
        return texts

    # -- handlers -----------------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = recorded(request).json
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or "model" not in body:
            return json_response(
                _error_body("invalid_request_error", "model and input are required"), 400
            )
        if not all(isinstance(t, str) and t for t in texts) or len(texts) > 2048:
            return json_response(
                _error_body("invalid_request_error", "input must be 1 to 2048 non-empty strings"),
                400,
            )
        dims = int(body.get("dimensions") or EMBEDDING_DIMS)
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(text, dims)
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{dims}f", *vector)
                embedding: Any = base64.b64encode(packed).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(estimate_tokens(len(t)) for t in texts)
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            headers=self._headers(),
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return json_response({"object": "list", "data": data})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = recorded(request).json
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return json_response(
                _error_body("invalid_request_error", "model and messages are required"), 400
            )
        item = self.next_script(body)
        if isinstance(item, ApiError):
            return json_response(_error_body(item.type, item.message), item.status, item.headers())
        model = str(body["model"])
        prompt = render_prompt(body)
        prompt_tokens = estimate_tokens(len(prompt))
        cached = self._cache.account(model, prompt)
        prefill = None
        if self.latency is not None:
            prefill = partial(
                self.latency.first_token, body, uncached=prompt_tokens - cached, cached=cached
            )
        completion = (
            item.output_tokens()
            if isinstance(item, Reply)
            else estimate_tokens(len(item.after.text))
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        self.usages.append(usage)
        if body.get("stream"):
            return await self._stream(request, body, model, item, usage, prefill=prefill)
        if prefill is not None:
            await prefill()
        if isinstance(item, StreamError):
            return json_response(
                _error_body(item.type, item.message), ERROR_STATUS.get(item.type, 500)
            )
        await item.emulate_latency()
        return json_response(self._completion(model, item, usage), headers=self._headers())

    # -- rendering ----------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"x-request-id": self.next_id("req_")}

    def _tool_id(self, call: ToolCall) -> str:
        return call.id or self.next_id("call_")

    @staticmethod
    def _finish_reason(reply: Reply) -> str:
        return reply.stop or ("tool_calls" if reply.has_tool_call else "stop")

    def _completion(self, model: str, reply: Reply, usage: dict[str, Any]) -> dict[str, Any]:
        text = "".join(p.text for p in reply.parts if isinstance(p, Text))
        calls = [
            {
                "id": self._tool_id(p),
                "type": "function",
                "function": {"name": p.name, "arguments": p.arguments_json()},
            }
            for p in reply.parts
            if isinstance(p, ToolCall)
        ]
        message = {
            "role": "assistant",
            "content": text or None,
            "refusal": None,
            "tool_calls": calls or None,
        }
        return {
            "id": self.next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self._finish_reason(reply),
                }
            ],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        model: str,
        item: Reply | StreamError,
        usage: dict[str, Any],
        *,
        prefill: Prefill | None = None,
    ) -> web.StreamResponse:
        """The answer as server-sent chunks. Like the API, the headers leave at once and the
        simulated time to first token (``prefill``) passes before the first chunk."""
        response = web.StreamResponse(headers={**self._headers(), "cache-control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        timed = None if prefill is None else await prefill()
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base = {
            "id": self.next_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
        }
        base |= {"model": model, "system_fingerprint": "fp_fake"} | (
            {"usage": None} if include_usage else {}
        )

        async def send(payload: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())

        async def send_delta(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            await send(base | {"choices": [choice]})

        await send_delta({"role": "assistant", "content": "", "refusal": None})
        parts = item.parts if isinstance(item, Reply) else (item.after,)
        tool_index = 0
        for part in parts:
            if isinstance(part, Text):
                await part.before_first_delta()
                for number, piece in enumerate(part.deltas()):
                    if number and self.latency is not None:
                        await self.latency.next_delta(piece)
                    await send_delta({"content": piece})
                    mark_emitted(timed)
                continue
            head = {"index": tool_index, "id": self._tool_id(part), "type": "function"}
            await send_delta(
                {"tool_calls": [head | {"function": {"name": part.name, "arguments": ""}}]}
            )
            for piece in part.fragments():
                await send_delta(
                    {"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]}
                )
            tool_index += 1
        if isinstance(item, StreamError):
            await send(_error_body(item.type, item.message))
        else:
            await send_delta({}, self._finish_reason(item))
            if include_usage:
                await send(base | {"choices": [], "usage": usage})
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

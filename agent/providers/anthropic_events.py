"""The Anthropic Messages event stream, folded: text as it comes, then tool calls, usage and the
stop reason; ``error`` events as our errors.

SDK-free: events are the plain JSON objects of the stream's ``data`` lines (agent/providers/sse.py
decodes them), read for the few fields Hearth needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.errors import ProviderError
from agent.messages import Usage
from agent.providers.base import parse_tool_arguments, retry_after_seconds
from agent.providers.sse import ServerSentEvent
from agent.request import ResponseDone, ToolCallRequest

# Error ``type`` values of the Messages API that map to a kind of ours (documented error types).
ERROR_TYPES: dict[str, tuple[str, bool]] = {
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


@dataclass
class _PendingTool:
    id: str
    name: str
    parts: list[str] = field(default_factory=list)


@dataclass
class EventFold:
    """What a raw Messages event stream adds up to: text, usage, stop reason, tool calls.

    Events are plain JSON objects (the SSE ``data``), read for the few fields that matter here;
    anything else (``ping``, ``content_block_stop``, thinking and citation deltas, event types
    newer than this code) is skipped.
    """

    model: str = ""
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    stopped: bool = False
    tools: dict[int, _PendingTool] = field(default_factory=dict)

    def add(self, event: ServerSentEvent, headers: Mapping[str, str] | None = None) -> str:
        """Take one event; return its answer text ("" for events that carry none).

        Raises:
            ProviderError: for an ``error`` event (kind and retryability of its error type, as
                an HTTP error of that type would have) and for an event that is not the JSON
                object the API documents.
        """
        if event.event == "ping":
            return ""
        try:
            payload = json.loads(event.data)
            if event.event == "error":
                raise stream_error(payload, headers)
            kind = payload["type"]
            if kind == "content_block_delta":
                return self._delta(payload)
            if kind == "error":
                raise stream_error(payload, headers)
            if kind == "content_block_start":
                block = payload["content_block"]
                if block["type"] == "tool_use":
                    self.tools[_count(payload, "index", -1)] = _PendingTool(
                        _text(block["id"]), _text(block["name"])
                    )
            elif kind == "message_start":
                message = payload["message"]
                self.model = _text(message["model"])
                self._usage(message["usage"])
            elif kind == "message_delta":
                stop_reason = payload["delta"].get("stop_reason")
                if stop_reason is not None:
                    self.stop_reason = _text(stop_reason)
                self._usage(payload.get("usage") or {})
            elif kind == "message_stop":
                self.stopped = True
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise ProviderError(
                f"anthropic: malformed {event.event} event ({type(exc).__name__})",
                kind="stream",
                retryable=True,
            ) from exc
        return ""

    def _delta(self, payload: dict[str, Any]) -> str:
        delta = payload["delta"]
        kind = delta["type"]
        if kind == "text_delta":
            return _text(delta["text"])
        if kind == "input_json_delta":
            tool = self.tools.get(_count(payload, "index", -1))
            if tool is not None:
                tool.parts.append(_text(delta["partial_json"]))
        return ""

    def _usage(self, usage: dict[str, Any]) -> None:
        # ``message_delta`` repeats the counts cumulatively; a None there means "unchanged".
        self.input_tokens = _count(usage, "input_tokens", self.input_tokens)
        self.output_tokens = _count(usage, "output_tokens", self.output_tokens)
        self.cache_read = _count(usage, "cache_read_input_tokens", self.cache_read)
        self.cache_write = _count(usage, "cache_creation_input_tokens", self.cache_write)

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


def _text(value: object) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _count(usage: dict[str, Any], name: str, current: int) -> int:
    value = usage.get(name)
    if value is None:
        return current
    if type(value) is not int:
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    return value


def stream_error(payload: object, headers: Mapping[str, str] | None = None) -> ProviderError:
    """The error of an ``error`` event in a stream whose HTTP status was already 200.

    Its ``error.type`` gives the kind, as it would for an HTTP error of that type
    (``overloaded_error`` mid-answer is the usual one); an unknown type is a stream failure
    worth another try.
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    error_type = error.get("type") if isinstance(error, dict) else None
    if isinstance(error_type, str) and error_type in ERROR_TYPES:
        kind, retryable = ERROR_TYPES[error_type]
    else:
        kind, retryable = "stream", True
    return ProviderError(
        f"anthropic: error event {error_type or '(untyped)'}",
        kind=kind,
        retryable=retryable,
        retry_after=retry_after_seconds(headers),
    )

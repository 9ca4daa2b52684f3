"""Scripting types shared by the model fakes (:mod:`.anthropic`, :mod:`.openai`).

A test queues :data:`Script` items; each model request consumes one. Example::

    fake.script(Reply(Text("Hello"), ToolCall("time", {"tz": "UTC"})), ApiError(429, retry_after=1))
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

GATE_TIMEOUT = 30.0
"""Upper bound (seconds) a stream waits for a :attr:`Text.gate` before failing."""


def split_evenly(text: str, chunks: int) -> list[str]:
    """Split ``text`` into at most ``chunks`` non-empty, roughly equal pieces."""
    if not text:
        return []
    count = max(1, min(chunks, len(text)))
    size = math.ceil(len(text) / count)
    return [text[i : i + size] for i in range(0, len(text), size)]


def estimate_tokens(size: int) -> int:
    """Token estimate used by the fakes: one token per 4 characters/bytes, rounded up."""
    return math.ceil(size / 4)


@dataclass(frozen=True)
class Text:
    """A text block streamed as ``chunks`` deltas.

    ``delay`` seconds pass (and ``gate``, if given, must be set) before the first delta.
    """

    text: str
    chunks: int = 3
    delay: float = 0.0
    gate: asyncio.Event | None = field(default=None, compare=False)

    def deltas(self) -> list[str]:
        """The text split into the streamed deltas."""
        return split_evenly(self.text, self.chunks)

    async def before_first_delta(self) -> None:
        """Emulate model latency: honour ``delay`` and ``gate``."""
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), GATE_TIMEOUT)


@dataclass(frozen=True)
class ToolCall:
    """A tool call whose arguments JSON is streamed as ``chunks`` fragments."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None
    chunks: int = 3

    def arguments_json(self) -> str:
        """The arguments serialised the way the providers stream them."""
        return json.dumps(self.arguments)

    def fragments(self) -> list[str]:
        """The arguments JSON split into streamed fragments."""
        return split_evenly(self.arguments_json(), self.chunks)


Part = Text | ToolCall


@dataclass(frozen=True, init=False)
class Reply:
    """One model response made of text and tool-call parts, in order.

    ``stop`` overrides the provider stop reason (e.g. ``"max_tokens"`` / ``"length"``).
    """

    parts: tuple[Part, ...]
    stop: str | None

    def __init__(self, *parts: Part, stop: str | None = None) -> None:
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "stop", stop)

    @property
    def has_tool_call(self) -> bool:
        """Whether any part is a :class:`ToolCall`."""
        return any(isinstance(p, ToolCall) for p in self.parts)

    async def emulate_latency(self) -> None:
        """Honour the delay/gate of every text part (used by non-streaming responses)."""
        for part in self.parts:
            if isinstance(part, Text):
                await part.before_first_delta()

    def output_tokens(self) -> int:
        """Estimated output tokens for usage reporting."""
        size = sum(
            len(p.text) if isinstance(p, Text) else len(p.arguments_json()) for p in self.parts
        )
        return max(1, estimate_tokens(size))


@dataclass(frozen=True)
class ApiError:
    """An HTTP error returned before any streaming (with ``retry-after`` when set)."""

    status: int
    type: str = "api_error"
    message: str = "boom"
    retry_after: float | None = None

    def headers(self) -> dict[str, str]:
        """Response headers for this error."""
        return {} if self.retry_after is None else {"retry-after": f"{self.retry_after:g}"}


@dataclass(frozen=True)
class StreamError:
    """Stream ``after``, then a mid-stream error event, then end the response."""

    after: Text = field(default_factory=lambda: Text(""))
    type: str = "overloaded_error"
    message: str = "Overloaded"


Script = Reply | ApiError | StreamError


def last_user_texts(messages: object) -> list[str]:
    """Texts of the last user message that has any text (tool-result-only turns are skipped)."""
    if not isinstance(messages, list):
        return []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return [content]
        if isinstance(content, list):
            texts = [
                str(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            ]
            if texts:
                return texts
    return []


class ScriptBook:
    """FIFO of scripts plus per-marker queues, with an echo reply as the fallback."""

    def __init__(self) -> None:
        self._queue: deque[Script] = deque()
        self._by_marker: dict[str, deque[Script]] = {}

    def add(self, items: Iterable[Script]) -> None:
        """Append to the FIFO queue."""
        self._queue.extend(items)

    def add_for(self, marker: str, items: Iterable[Script]) -> None:
        """Append to the queue used when the last user text contains ``marker``."""
        self._by_marker.setdefault(marker, deque()).extend(items)

    def pending(self) -> int:
        """Number of scripted items not consumed yet."""
        return len(self._queue) + sum(len(q) for q in self._by_marker.values())

    def next_for(self, messages: object) -> Script:
        """Pick the script for a request whose body has these ``messages``."""
        texts = last_user_texts(messages)
        joined = "\n".join(texts)
        for marker, queue in self._by_marker.items():
            if queue and marker in joined:
                return queue.popleft()
        if self._queue:
            return self._queue.popleft()
        return Reply(Text("echo: " + (texts[-1] if texts else "")))

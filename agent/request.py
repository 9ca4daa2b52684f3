"""What the agent asks of a model provider, and what a provider streams back.

A :class:`ModelRequest` is provider-neutral and already ordered for prompt caching (DESIGN.md §5):
the stable system text and tool definitions first, then the append-only transcript, then the new user
message carrying the volatile context. Providers render it into their wire format and place the cache
breakpoints; they never reorder it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from agent.messages import ChatMessage, Usage

CacheTtl = Literal["5m", "1h"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool definition as sent to the model; ``input_schema`` is a JSON schema object."""

    name: str
    description: str
    input_schema: dict[str, Any]

    def __post_init__(self) -> None:
        # Sorted once here rather than on every request (it showed in the hot-path profile).
        canonical = json.loads(json.dumps(self.input_schema, sort_keys=True))
        object.__setattr__(self, "input_schema", canonical)

    def canonical_schema(self) -> dict[str, Any]:
        """The schema with keys sorted recursively, so its JSON form is byte-stable (shared: do
        not mutate)."""
        return self.input_schema


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call.

    Attributes:
        model: the provider's model name.
        system: stable instructions (persona, compacted summary); part of the cached prefix.
        tools: tool definitions sorted by name; part of the cached prefix.
        messages: the transcript followed by the new user message (last).
        cache_key: a stable id of the conversation (OpenAI ``prompt_cache_key``).
        cache_ttl: Anthropic cache lifetime.
        max_output_tokens: cap on the answer.
    """

    model: str
    system: str
    tools: tuple[ToolSpec, ...]
    messages: tuple[ChatMessage, ...]
    cache_key: str
    cache_ttl: CacheTtl
    max_output_tokens: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """A complete tool call (arguments reassembled from the stream)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """End of one model response."""

    usage: Usage
    stop_reason: str
    model: str


ProviderEvent = TextDelta | ToolCallRequest | ResponseDone

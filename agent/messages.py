"""Conversation values shared by the agent core and the runtime.

A transcript is a tuple of :class:`ChatMessage`; every message is a tuple of blocks. These values are
frozen so that a warm session's transcript can be shared without copying, and they serialise to a
stable JSON form for the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class TextBlock:
    """Plain text written by the user, the model, or the runtime (volatile context)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolUseBlock:
    """A tool call requested by the model."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolResultBlock:
    """The outcome of one tool call, returned to the model as untrusted data."""

    tool_use_id: str
    content: str
    is_error: bool = False


Block = TextBlock | ToolUseBlock | ToolResultBlock


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a transcript."""

    role: Role
    blocks: tuple[Block, ...]

    @classmethod
    def user_text(cls, *texts: str) -> ChatMessage:
        """A user message made of text blocks, empty texts dropped."""
        return cls("user", tuple(TextBlock(t) for t in texts if t))

    @property
    def text(self) -> str:
        """The concatenated text blocks (tool blocks left out)."""
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))

    def to_json(self) -> str:
        """Stable JSON for the store."""
        return json.dumps(
            {"role": self.role, "blocks": [_block_to_dict(b) for b in self.blocks]},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> ChatMessage:
        """Inverse of :meth:`to_json`."""
        data = json.loads(raw)
        role = data["role"]
        if role not in ("user", "assistant"):
            raise ValueError(f"unknown role {role!r}")
        return cls(role, tuple(_block_from_dict(b) for b in data["blocks"]))


def _block_to_dict(block: Block) -> dict[str, Any]:
    match block:
        case TextBlock(text):
            return {"type": "text", "text": text}
        case ToolUseBlock(id_, name, arguments):
            return {"type": "tool_use", "id": id_, "name": name, "arguments": arguments}
        case ToolResultBlock(tool_use_id, content, is_error):
            return {
                "type": "tool_result",
                "tool_use_id": tool_use_id,
                "content": content,
                "is_error": is_error,
            }


def _block_from_dict(data: dict[str, Any]) -> Block:
    kind = data["type"]
    if kind == "text":
        return TextBlock(str(data["text"]))
    if kind == "tool_use":
        return ToolUseBlock(str(data["id"]), str(data["name"]), dict(data["arguments"]))
    if kind == "tool_result":
        return ToolResultBlock(
            str(data["tool_use_id"]), str(data["content"]), bool(data["is_error"])
        )
    raise ValueError(f"unknown block type {kind!r}")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one or more model calls, normalised across providers.

    ``input_tokens`` counts the whole prompt, cached parts included (OpenAI's ``prompt_tokens``;
    Anthropic's ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def cache_read_share(self) -> float:
        """Share of prompt tokens served from the provider's cache (0 when nothing was sent)."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

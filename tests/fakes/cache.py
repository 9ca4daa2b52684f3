"""Prompt-cache emulation for the model fakes.

Anthropic: the prompt is rendered as blocks (tools, system, messages); blocks with
``cache_control`` are breakpoints; a request reads the longest prefix written at a
breakpoint of an earlier request. OpenAI: automatic prefix caching on the
canonical JSON of tools + messages, 1024-token minimum, 128-token increments.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from .script import estimate_tokens


def canonical(value: object) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def common_prefix_len(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    lo, hi = 0, limit  # invariant: a[:lo] == b[:lo]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- Anthropic ---------------------------------------------------------------------


@dataclass(frozen=True)
class PromptBlock:
    """One block of a rendered prompt; ``ttl`` is set when it is a cache breakpoint."""

    data: bytes
    ttl: str | None = None

    @property
    def tokens(self) -> int:
        """Estimated token length of the block."""
        return estimate_tokens(len(self.data))


def _strip(block: Any) -> Any:
    if not isinstance(block, dict):
        return block
    out = {k: v for k, v in block.items() if k != "cache_control"}
    if isinstance(out.get("content"), list):  # e.g. tool_result content blocks
        out["content"] = [_strip(item) for item in out["content"]]
    return out


def _ttl(block: Any) -> str | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    return str(control.get("ttl", "5m")) if isinstance(control, dict) else None


def _as_blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]  # the API treats a string as one text block
    return list(content) if isinstance(content, list) else []


def render_blocks(body: dict[str, Any]) -> list[PromptBlock]:
    """Render a Messages request as blocks in processing order: tools, system, messages."""
    blocks = [PromptBlock(canonical(_strip(t)), _ttl(t)) for t in body.get("tools") or []]
    blocks += [PromptBlock(canonical(_strip(s)), _ttl(s)) for s in _as_blocks(body.get("system"))]
    for message in body.get("messages") or []:
        prefix = f"{message.get('role')}:".encode()
        blocks += [
            PromptBlock(prefix + canonical(_strip(b)), _ttl(b))
            for b in _as_blocks(message.get("content"))
        ]
    auto = body.get("cache_control")  # top-level param: marks the last cacheable block
    if isinstance(auto, dict) and blocks and blocks[-1].ttl is None:
        blocks[-1] = replace(blocks[-1], ttl=str(auto.get("ttl", "5m")))
    return blocks


def breakpoint_positions(blocks: list[PromptBlock]) -> list[int]:
    """Block counts of the prefixes ending at each breakpoint (1-based end positions)."""
    return [i + 1 for i, block in enumerate(blocks) if block.ttl is not None]


@dataclass(frozen=True)
class CacheUsage:
    """Input-side usage of one Anthropic request."""

    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int

    def as_dict(self) -> dict[str, Any]:
        """Usage fields as the Messages API reports them (without ``output_tokens``)."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
        }


class AnthropicPromptCache:
    """Breakpoint-based prefix cache keyed by (model, hash of the block prefix)."""

    def __init__(self, min_cacheable_tokens: int = 0) -> None:
        self.min_cacheable_tokens = min_cacheable_tokens
        self._written: set[tuple[str, bytes]] = set()

    def account(self, model: str, blocks: list[PromptBlock]) -> CacheUsage:
        """Compute usage for a request and record its breakpoint prefixes as written."""
        hashes: list[bytes] = []
        cumulative = [0]
        digest = b""
        for block in blocks:
            digest = hashlib.sha256(digest + hashlib.sha256(block.data).digest()).digest()
            hashes.append(digest)
            cumulative.append(cumulative[-1] + block.tokens)
        points = [
            k for k in breakpoint_positions(blocks) if cumulative[k] >= self.min_cacheable_tokens
        ]
        last = points[-1] if points else 0
        read_k = max(
            (k for k in range(1, last + 1) if (model, hashes[k - 1]) in self._written), default=0
        )
        by_ttl = {"5m": 0, "1h": 0}
        start = read_k
        for k in points:
            if k > start:
                ttl = blocks[k - 1].ttl or "5m"
                by_ttl[ttl] = by_ttl.get(ttl, 0) + cumulative[k] - cumulative[start]
                start = k
        self._written.update((model, hashes[k - 1]) for k in points)
        read = cumulative[read_k]
        creation = cumulative[last] - read if last > read_k else 0
        return CacheUsage(
            input_tokens=cumulative[-1] - read - creation,
            cache_read_input_tokens=read,
            cache_creation_input_tokens=creation,
            ephemeral_5m_input_tokens=by_ttl["5m"],
            ephemeral_1h_input_tokens=by_ttl["1h"],
        )


# -- OpenAI ------------------------------------------------------------------------


def render_prompt(body: dict[str, Any]) -> bytes:
    """Canonical prompt bytes of a Chat Completions request: tools, then messages."""
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    return b"".join(canonical(item) for item in [*tools, *messages])


class OpenAIPrefixCache:
    """Automatic prefix cache: longest common prefix with any earlier prompt of the model."""

    min_tokens = 1024
    granularity = 128

    def __init__(self) -> None:
        self._prompts: list[tuple[str, bytes]] = []

    def account(self, model: str, prompt: bytes) -> int:
        """Return ``cached_tokens`` for ``prompt`` and remember it for later requests."""
        common = max(
            (common_prefix_len(prompt, p) for m, p in self._prompts if m == model), default=0
        )
        self._prompts.append((model, prompt))
        cached = common // 4
        if estimate_tokens(len(prompt)) < self.min_tokens or cached < self.min_tokens:
            return 0
        return cached - cached % self.granularity

"""The Anthropic request body: our own JSON, equal to the rendered parameters, head reused."""

from __future__ import annotations

import json
from dataclasses import replace

from agent.messages import ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock
from agent.providers.anthropic import RequestEncoder, render_request
from agent.request import ModelRequest, ToolSpec

TOOLS = (
    ToolSpec("clock", "The time — now.", {"type": "object", "properties": {}}),
    ToolSpec(
        "recall",
        "Search memories.",
        {"properties": {"query": {"type": "string"}}, "type": "object", "required": ["query"]},
    ),
)


def request(
    text: str, *, system: str = "Be brief. ✓", tools: tuple[ToolSpec, ...] = TOOLS
) -> ModelRequest:
    return ModelRequest(
        model="claude-x",
        system=system,
        tools=tools,
        messages=(
            ChatMessage("user", (TextBlock("what time is it?"),)),
            ChatMessage("assistant", (ToolUseBlock("tu1", "clock", {"tz": "UTC"}),)),
            ChatMessage("user", (ToolResultBlock("tu1", "09:00", False),)),
            ChatMessage("assistant", (TextBlock("It is nine."),)),
            ChatMessage("user", (TextBlock(text),)),
        ),
        cache_key="c1",
        cache_ttl="5m",
        max_output_tokens=512,
    )


def test_the_body_is_the_rendered_request_with_stream_and_unicode_kept() -> None:
    encoder = RequestEncoder()
    for text in ("and in Tokyo? 東京", 'quotes " and \\ backslashes\n'):
        body = encoder.encode(request(text))
        assert json.loads(body) == render_request(request(text)) | {"stream": True}
        assert "東京".encode() in body or "東京" not in text  # UTF-8, not \\u escapes


def test_the_head_is_encoded_once_per_system_ttl_and_tools() -> None:
    encoder = RequestEncoder(keep=2)
    first = request("one")
    encoder.encode(first)
    head = encoder._heads[next(iter(encoder._heads))][1]
    assert encoder._head(request("two")) is head  # same system and tools: reused
    changed = [
        request("x", system="Be verbose."),
        replace(request("x"), cache_ttl="1h"),
        request("x", tools=TOOLS[:1]),
    ]
    for other in changed:
        assert json.loads(encoder.encode(other)) == render_request(other) | {"stream": True}
        assert encoder._head(other) is not head
    assert len(encoder._heads) == 2  # the oldest heads were dropped

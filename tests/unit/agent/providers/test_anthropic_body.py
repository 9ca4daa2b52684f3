"""The Anthropic request body: our own JSON, equal to the rendered parameters, head reused."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from agent.messages import ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock
from agent.providers.anthropic import RequestEncoder, messages_url, render_request
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


def grown(previous: ModelRequest, reply: str, text: str) -> ModelRequest:
    """The next turn of a warm session: the same message objects plus a reply and a question."""
    more = (ChatMessage("assistant", (TextBlock(reply),)), ChatMessage.user_text(text))
    return replace(previous, messages=previous.messages + more)


def body_of(encoder: RequestEncoder, request: ModelRequest) -> object:
    return json.loads(encoder.encode(request))


def test_a_growing_transcript_encodes_each_message_once_and_moves_the_breakpoints() -> None:
    encoder = RequestEncoder()
    turn = request("first")
    for number in range(5):
        assert body_of(encoder, turn) == render_request(turn) | {"stream": True}
        turn = grown(turn, f"answer {number} «ok»", f"question {number + 1}")
    assert body_of(encoder, turn) == render_request(turn) | {"stream": True}
    # Every message was encoded once, at its first turn, and is reused from then on.
    kept = {id(m): encoder._messages[id(m)][1] for m in turn.messages}
    encoder.encode(grown(turn, "more", "again"))
    assert all(encoder._messages[key][1] is text for key, text in kept.items())
    body = encoder.encode(turn).decode()
    assert body.count('"cache_control"') == 3  # system, last prior message, new message


def test_messages_without_content_or_alone_get_the_breakpoints_render_request_gives() -> None:
    encoder = RequestEncoder()
    cases = [
        replace(request("x"), messages=(ChatMessage.user_text("alone"),)),
        replace(request("x"), messages=(ChatMessage.user_text("a"), ChatMessage("user", ()))),
        replace(request("x"), messages=(ChatMessage("user", ()),)),
        replace(request("x", tools=()), cache_ttl="1h"),
    ]
    for case in cases:
        assert body_of(encoder, case) == render_request(case) | {"stream": True}


def test_the_message_cache_is_bounded_and_holds_what_it_keys() -> None:
    encoder = RequestEncoder(keep_messages=3)
    turn = request("first")
    for number in range(4):
        turn = grown(turn, f"answer {number}", f"question {number}")
        assert body_of(encoder, turn) == render_request(turn) | {"stream": True}
        assert len(encoder._messages) == 3
    # Entries are keyed by id() and keep their message alive, so a key is never a stale id.
    assert all(id(message) == key for key, (message, _) in encoder._messages.items())
    # Equal messages that are different objects are encoded apart, and the same.
    twins = (ChatMessage.user_text("same"), ChatMessage.user_text("same"))
    twin_request = replace(request("x"), messages=twins)
    assert body_of(encoder, twin_request) == render_request(twin_request) | {"stream": True}


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"),
        ("https://gateway.example/anthropic/", "https://gateway.example/anthropic/v1/messages"),
    ],
)
def test_the_messages_endpoint_keeps_a_gateways_path_prefix(base: str, url: str) -> None:
    assert messages_url(base) == url

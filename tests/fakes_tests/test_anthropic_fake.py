"""FakeAnthropic driven by the real ``anthropic`` SDK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
import pytest_asyncio
from anthropic.types import Message, MessageParam, TextBlockParam, ToolParam

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Fault
from tests.fakes.script import ApiError, Reply, StreamError, Text, ToolCall

pytestmark = pytest.mark.asyncio

MODEL = "claude-fake-1"
TOOL: ToolParam = {
    "name": "time",
    "description": "Current time in a time zone.",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
}


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest_asyncio.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(api_key="x", base_url=fake.url, max_retries=0) as sdk:
        yield sdk


def user(text: str, *, cache: bool = False) -> MessageParam:
    block: TextBlockParam = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return {"role": "user", "content": [block]}


def first_text(message: Message) -> str:
    """Text of the first content block (which must be a text block)."""
    block = message.content[0]
    assert block.type == "text"
    return block.text


async def stream_text(client: anthropic.AsyncAnthropic, **kwargs: Any) -> tuple[list[str], Message]:
    """Stream one request; return the text deltas and the final message."""
    deltas: list[str] = []
    async with asyncio.timeout(5):
        async with client.messages.stream(model=MODEL, max_tokens=256, **kwargs) as stream:
            async for event in stream:
                if event.type == "text":
                    deltas.append(event.text)
            final = await stream.get_final_message()
    return deltas, final


async def test_streams_text_in_chunks(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(Reply(Text("Hello there, world", chunks=3)))
    deltas, final = await stream_text(client, messages=[user("hi")])
    assert len(deltas) == 3
    assert "".join(deltas) == "Hello there, world"
    assert first_text(final) == "Hello there, world"
    assert final.model == MODEL
    assert final.id == "msg_1"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == fake.usages[0]["output_tokens"]
    request = fake.chat_requests()[0]
    assert request.json["stream"] is True
    assert request.headers["anthropic-version"]


async def test_default_reply_echoes_last_user_text(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    _, final = await stream_text(client, messages=[user("first"), user("second")])
    assert first_text(final) == "echo: second"
    assert fake.pending_scripts() == 0


async def test_tool_call_arguments_reassembled(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    args = {"tz": "Europe/Berlin", "format": "iso", "precise": True}
    fake.script(Reply(Text("Checking."), ToolCall("time", args)))
    fragments: list[str] = []
    async with asyncio.timeout(5):
        async with client.messages.stream(
            model=MODEL, max_tokens=64, tools=[TOOL], messages=[user("time?")]
        ) as stream:
            async for event in stream:
                if event.type == "input_json":
                    fragments.append(event.partial_json)
            final = await stream.get_final_message()
    assert len(fragments) > 1
    assert final.stop_reason == "tool_use"
    block = final.content[1]
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == ("toolu_1", "time", args)


async def test_non_streaming_message(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    fake.script(Reply(ToolCall("time", {"tz": "UTC"}, id="toolu_custom")))
    message = await client.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use"
    assert (block.id, block.input) == ("toolu_custom", {"tz": "UTC"})
    assert message.usage.input_tokens == fake.usages[0]["input_tokens"]


async def test_rate_limit_with_retry_after(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(ApiError(429, "rate_limit_error", "slow down", retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await stream_text(client, messages=[user("hi")])
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
        "request_id": caught.value.response.headers["request-id"],
    }
    assert fake.usages == []


async def test_overloaded_maps_to_overloaded_error(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(ApiError(529, "overloaded_error", "Overloaded"))
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(model=MODEL, max_tokens=8, messages=[user("hi")])


async def test_mid_stream_error_raises_after_partial_text(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.script(StreamError(Text("partial answer", chunks=2)))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with asyncio.timeout(5):
            async with client.messages.stream(
                model=MODEL, max_tokens=64, messages=[user("hi")]
            ) as stream:
                async for event in stream:
                    if event.type == "text":
                        seen.append(event.text)
    assert "".join(seen) == "partial answer"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_fault_then_recovery(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    fake.fail_next(Fault(500, {"type": "error", "error": {"type": "api_error", "message": "x"}}))
    with pytest.raises(anthropic.InternalServerError):
        await client.messages.create(model=MODEL, max_tokens=8, messages=[user("hi")])
    message = await client.messages.create(model=MODEL, max_tokens=8, messages=[user("again")])
    assert first_text(message) == "echo: again"
    assert len(fake.chat_requests()) == 2


async def test_invalid_request_is_rejected(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    too_many = [user(f"m{i}", cache=True) for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4"):
        await client.messages.create(model=MODEL, max_tokens=8, messages=too_many)


async def test_script_for_marker_with_concurrent_streams(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    gate = asyncio.Event()
    fake.script_for("[A]", Reply(Text("slow A", gate=gate)))
    fake.script_for("[B]", Reply(Text("fast B")))
    slow = asyncio.create_task(stream_text(client, messages=[user("[A] go")]))
    await fake.wait_for(lambda: len(fake.chat_requests()) == 1)
    _, fast = await stream_text(client, messages=[user("[B] go")])
    assert first_text(fast) == "fast B"
    assert not slow.done()
    gate.set()
    async with asyncio.timeout(5):
        _, slow_final = await slow
    assert first_text(slow_final) == "slow A"


async def test_count_tokens(fake: FakeAnthropic, client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(model=MODEL, messages=[user("hello")])
    assert counted.input_tokens == fake.prompt_tokens(fake.requests[0])


# -- prompt cache emulation -------------------------------------------------------------

SYSTEM: list[TextBlockParam] = [
    {"type": "text", "text": "You are Hearth. " * 40, "cache_control": {"type": "ephemeral"}}
]


async def test_cache_read_on_extended_conversation(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    first = [user("What time is it?", cache=True)]
    _, final1 = await stream_text(client, system=SYSTEM, tools=[TOOL], messages=first)
    req1 = fake.chat_requests()[0]
    written = fake.prompt_tokens(req1, upto_breakpoint=-1)
    assert fake.breakpoints(req1) == 2
    assert final1.usage.cache_read_input_tokens == 0
    assert final1.usage.cache_creation_input_tokens == written
    assert final1.usage.input_tokens == 0

    second: list[MessageParam] = [
        user("What time is it?"),
        {"role": "assistant", "content": [{"type": "text", "text": first_text(final1)}]},
        user("And in Tokyo?", cache=True),
    ]
    _, final2 = await stream_text(client, system=SYSTEM, tools=[TOOL], messages=second)
    req2 = fake.chat_requests()[1]
    assert fake.prompt_bytes(req2).startswith(fake.prompt_bytes(req1, upto_breakpoint=-1))
    assert final2.usage.cache_read_input_tokens == written
    total2 = fake.prompt_tokens(req2)
    assert final2.usage.cache_creation_input_tokens == total2 - written
    assert fake.usages[1]["cache_creation"]["ephemeral_5m_input_tokens"] == total2 - written


async def test_changed_system_prompt_reads_nothing(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    await stream_text(client, system=SYSTEM, tools=[TOOL], messages=[user("hi", cache=True)])
    changed: list[TextBlockParam] = [{**SYSTEM[0], "text": "You are someone else."}]
    _, final = await stream_text(
        client, system=changed, tools=[TOOL], messages=[user("hi", cache=True)]
    )
    assert final.usage.cache_read_input_tokens == 0
    assert final.usage.cache_creation_input_tokens == fake.prompt_tokens(fake.chat_requests()[1])


async def test_tool_breakpoint_survives_system_change(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    cached_tool: ToolParam = {**TOOL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    await stream_text(client, system=SYSTEM, tools=[cached_tool], messages=[user("hi")])
    assert fake.usages[0]["cache_creation"]["ephemeral_1h_input_tokens"] > 0
    _, final = await stream_text(
        client, system="Different system", tools=[cached_tool], messages=[user("hi")]
    )
    tool_tokens = fake.prompt_tokens(fake.chat_requests()[1], upto_breakpoint=0)
    assert final.usage.cache_read_input_tokens == tool_tokens


async def test_top_level_cache_control_marks_last_block(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    for _ in range(2):
        await client.messages.create(
            model=MODEL,
            max_tokens=8,
            system="Be brief.",
            messages=[user("hello")],
            cache_control={"type": "ephemeral"},
        )
    request = fake.chat_requests()[1]
    assert fake.breakpoints(request) == 1
    assert fake.usages[1]["cache_read_input_tokens"] == fake.prompt_tokens(request)
    assert fake.usages[1]["input_tokens"] == 0


async def test_no_breakpoints_no_caching(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    for _ in range(2):
        await client.messages.create(model=MODEL, max_tokens=8, messages=[user("hello")])
    assert [u["cache_read_input_tokens"] for u in fake.usages] == [0, 0]
    assert fake.usages[1]["input_tokens"] == fake.prompt_tokens(fake.chat_requests()[1])

"""FakeOpenAI driven by the real ``openai`` SDK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import openai
import pytest
import pytest_asyncio
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from tests.fakes.base import Fault
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import ApiError, Reply, StreamError, Text, ToolCall

pytestmark = pytest.mark.asyncio

MODEL = "gpt-fake"
TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "time",
        "description": "Current time in a time zone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}
LONG_SYSTEM = "You are Hearth, a helpful assistant that keeps sessions warm. " * 100


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest_asyncio.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(api_key="x", base_url=fake.url + "/v1", max_retries=0) as sdk:
        yield sdk


def conversation(*turns: str, system: str = LONG_SYSTEM) -> list[ChatCompletionMessageParam]:
    """System message, then alternating user/assistant turns."""
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
    for i, text in enumerate(turns):
        if i % 2:
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": "user", "content": text})
    return messages


async def collect(
    client: openai.AsyncOpenAI, messages: list[ChatCompletionMessageParam], **extra: object
) -> list[ChatCompletionChunk]:
    """Stream one completion with usage and return all chunks."""
    chunks: list[ChatCompletionChunk] = []
    async with asyncio.timeout(5):
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=dict(extra) or None,
        )
        async with stream:
            async for chunk in stream:
                chunks.append(chunk)
    return chunks


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_streams_text_with_final_usage_chunk(
    fake: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    fake.script(Reply(Text("Hello there, world", chunks=3)))
    chunks = await collect(client, [{"role": "user", "content": "hi"}])
    assert text_of(chunks) == "Hello there, world"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == fake.usages[0]["prompt_tokens"]
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 0
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {MODEL}


async def test_default_reply_echoes(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    chunks = await collect(client, conversation("first", "ok", "second"))
    assert text_of(chunks) == "echo: second"


async def test_tool_call_arguments_reassembled(
    fake: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    args = {"tz": "Europe/Berlin", "format": "iso", "precise": True}
    fake.script(Reply(Text("Checking."), ToolCall("time", args), ToolCall("time", {"tz": "UTC"})))
    async with asyncio.timeout(5):
        async with client.chat.completions.stream(
            model=MODEL, messages=[{"role": "user", "content": "time?"}], tools=[TOOL]
        ) as stream:
            fragments = [e async for e in stream if e.type == "tool_calls.function.arguments.delta"]
            final = await stream.get_final_completion()
    assert len(fragments) > 2
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_1", "time", '{"tz": "Europe/Berlin", "format": "iso", "precise": true}'),
        ("call_2", "time", '{"tz": "UTC"}'),
    ]


async def test_non_streaming_completion(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(Reply(ToolCall("time", {"tz": "UTC"}, id="call_custom")))
    completion = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=[TOOL]
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert (call.id, call.function.arguments) == ("call_custom", '{"tz": "UTC"}')
    assert completion.usage is not None
    assert completion.usage.total_tokens == fake.usages[0]["total_tokens"]


async def test_rate_limit_with_retry_after(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(ApiError(429, "rate_limit_error", "slow down", retry_after=2.5))
    with pytest.raises(openai.RateLimitError) as caught:
        await collect(client, [{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "2.5"
    assert caught.value.message == "Error code: 429 - slow down"
    assert caught.value.type == "rate_limit_error"


async def test_mid_stream_error_raises(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.script(StreamError(Text("partial", chunks=2), type="server_error", message="went away"))
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="went away"):
        async with asyncio.timeout(5):
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async with stream:
                async for chunk in stream:
                    seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "partial"


async def test_fault_then_recovery(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    fake.fail_next(Fault(503, {"error": {"message": "down", "type": "server_error"}}))
    with pytest.raises(openai.InternalServerError):
        await collect(client, [{"role": "user", "content": "hi"}])
    assert text_of(await collect(client, [{"role": "user", "content": "again"}])) == "echo: again"


async def test_models_list(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    assert [m.id for m in page.data] == ["gpt-fake"]
    assert fake.chat_requests() == []


async def test_prompt_cache_key_recorded(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], prompt_cache_key="session-42"
    )
    await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert fake.prompt_cache_keys() == ["session-42", None]


# -- prompt cache emulation -------------------------------------------------------------


def cached_tokens(chunks: list[ChatCompletionChunk]) -> int:
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    return usage.prompt_tokens_details.cached_tokens or 0


async def test_cache_hit_on_extended_conversation(
    fake: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    first = await collect(client, conversation("What time is it?"))
    assert cached_tokens(first) == 0
    second = await collect(client, conversation("What time is it?", "Noon.", "And in Tokyo?"))
    req1, req2 = fake.chat_requests()
    prefix = fake.prompt_bytes(req1)
    assert fake.prompt_bytes(req2).startswith(prefix)
    expected = (len(prefix) // 4) // 128 * 128
    assert expected >= 1024
    assert cached_tokens(second) == expected
    usage = second[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == fake.usages[1]["prompt_tokens"] > expected


async def test_changed_system_prompt_misses(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    await collect(client, conversation("hi"))
    changed = await collect(client, conversation("hi", system="Changed. " + LONG_SYSTEM))
    assert cached_tokens(changed) == 0


async def test_short_prompts_are_never_cached(fake: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    for _ in range(2):
        chunks = await collect(client, conversation("hi", system="short"))
    assert cached_tokens(chunks) == 0
    assert [u["prompt_tokens_details"]["cached_tokens"] for u in fake.usages] == [0, 0]

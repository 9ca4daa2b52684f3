"""The Anthropic response path: raw SSE read through the real SDK, folded into our events.

The request goes through the SDK (status errors, retries); the body is decoded and folded by us.
Driven against the loopback Messages fake, and against a small server that cuts a recorded
stream short.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from agent.errors import ProviderError
from agent.messages import ChatMessage, Usage
from agent.providers.anthropic import AnthropicProvider
from agent.providers.anthropic_events import EventFold
from agent.providers.sse import ServerSentEvent, SSEDecoder
from agent.request import ModelRequest, ProviderEvent, ResponseDone, TextDelta, ToolCallRequest
from config import ProviderSettings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import FakeServer, Fault
from tests.fakes.script import ApiError, Reply, StreamError, Text, ToolCall
from tests.harness import wait_until
from tests.unit.agent.providers.recorded_stream import RECORDED

HANG_GUARD_S = 10.0  # a bound on a wait that should end at once, not a timing assertion


def provider(url: str, *, retries: int = 0) -> AnthropicProvider:
    settings = ProviderSettings.model_validate(
        {"kind": "anthropic", "api_key": "sk-test", "base_url": url, "max_retries": retries}
    )
    return AnthropicProvider("anthropic", settings)


def request(text: str = "hi") -> ModelRequest:
    return ModelRequest(
        model="claude-x",
        system="Be brief.",
        tools=(),
        messages=(ChatMessage.user_text(text),),
        cache_key="c1",
        cache_ttl="5m",
        max_output_tokens=256,
    )


async def collect(
    target: AnthropicProvider, sink: list[ProviderEvent] | None = None
) -> list[ProviderEvent]:
    """Every event of one call, also appended to ``sink`` as they come (kept on failure)."""
    events = [] if sink is None else sink
    async with asyncio.timeout(HANG_GUARD_S):
        async for event in target.stream(request()):
            events.append(event)
    return events


async def failing(target: AnthropicProvider) -> tuple[list[ProviderEvent], ProviderError]:
    """The events of one call that must fail, and its error; the provider is closed after."""
    seen: list[ProviderEvent] = []
    try:
        with pytest.raises(ProviderError) as caught:
            await collect(target, seen)
    finally:
        await target.aclose()
    return seen, caught.value


def texts(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


# -- the fold, on a recorded stream --------------------------------------------------------


def fold_all(raw: bytes) -> tuple[EventFold, str]:
    fold = EventFold()
    text = "".join(fold.add(event) for event in SSEDecoder().feed(raw))
    return fold, text


def test_the_recorded_stream_folds_to_text_tool_call_and_usage() -> None:
    fold, text = fold_all(RECORDED)
    assert text == "Zeit in 東京: "
    assert fold.stopped
    assert fold.tool_calls() == [ToolCallRequest("toolu_1", "clock", {"tz": "Asia/Tokyo"})]
    assert fold.done("asked-for") == ResponseDone(
        usage=Usage(
            input_tokens=3 + 2048 + 40,
            output_tokens=17,
            cache_read_tokens=2048,
            cache_write_tokens=40,
        ),
        stop_reason="tool_use",
        model="claude-x",
    )


@pytest.mark.parametrize(
    ("error_type", "kind", "retryable"),
    [
        ("overloaded_error", "overloaded", True),
        ("rate_limit_error", "rate_limit", True),
        ("api_error", "server", True),
        ("invalid_request_error", "bad_request", False),
        ("some_new_error", "stream", True),
    ],
)
def test_an_error_event_is_a_provider_error_of_its_type(
    error_type: str, kind: str, retryable: bool
) -> None:
    data = json.dumps({"type": "error", "error": {"type": error_type, "message": "m"}})
    with pytest.raises(ProviderError) as caught:
        EventFold().add(ServerSentEvent("error", data))
    assert (caught.value.kind, caught.value.retryable) == (kind, retryable)
    assert error_type in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        "[1, 2]",
        '{"type": "content_block_delta", "index": 0}',
        '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 7}}',
        '{"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": "3"}}}',
        '{"type": "message_delta", "delta": {"stop_reason": 1}, "usage": {}}',
    ],
)
def test_a_malformed_event_is_a_stream_error(data: str) -> None:
    with pytest.raises(ProviderError) as caught:
        EventFold().add(ServerSentEvent("content_block_delta", data))
    assert (caught.value.kind, caught.value.retryable) == ("stream", True)


def test_an_error_event_without_a_type_is_a_stream_error() -> None:
    with pytest.raises(ProviderError) as caught:
        EventFold().add(ServerSentEvent("error", '{"error": "gone"}'))
    assert (caught.value.kind, caught.value.retryable) == ("stream", True)
    assert "untyped" in str(caught.value)


def test_pings_and_unknown_events_add_nothing() -> None:
    fold = EventFold()
    assert fold.add(ServerSentEvent("ping", "")) == ""
    assert fold.add(ServerSentEvent("new_kind", '{"type": "new_kind", "x": 1}')) == ""
    thinking = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}}
    assert fold.add(ServerSentEvent("content_block_delta", json.dumps(thinking))) == ""
    assert not fold.stopped


# -- through the real SDK, against the Messages fake ---------------------------------------


async def test_text_and_a_tool_call_stream_through(fake: FakeAnthropic) -> None:
    fake.script(Reply(Text("It is nine o'clock.", chunks=4), ToolCall("clock", {"tz": "UTC"})))
    target = provider(fake.url)
    try:
        events = await collect(target)
    finally:
        await target.aclose()
    assert [type(e) for e in events] == [TextDelta] * 4 + [ToolCallRequest, ResponseDone]
    assert texts(events) == "It is nine o'clock."
    assert events[4] == ToolCallRequest("toolu_1", "clock", {"tz": "UTC"})
    done = events[5]
    assert isinstance(done, ResponseDone)
    assert done.stop_reason == "tool_use"
    assert done.usage.output_tokens == fake.usages[0]["output_tokens"]
    body = fake.chat_requests()[0].json
    assert body["stream"] is True and body["messages"][0]["content"][0]["text"] == "hi"


async def test_a_mid_stream_error_event_ends_the_stream_after_the_partial_text(
    fake: FakeAnthropic,
) -> None:
    fake.script(StreamError(Text("The first half", chunks=2), "overloaded_error", "Overloaded"))
    seen, error = await failing(provider(fake.url, retries=2))
    assert texts(seen) == "The first half"
    assert (error.kind, error.retryable) == ("overloaded", True)
    assert "overloaded_error" in str(error)
    assert len(fake.chat_requests()) == 1  # the SDK does not retry once the stream is open


async def test_a_consumer_that_stops_early_ends_the_request() -> None:
    # A reply that would stream for minutes: only a closed connection ends the fake's handler
    # early (its next write fails). The provider closes the response as the stream is closed.
    async with FakeAnthropic(delta_interval=0.2) as slow:
        slow.script(Reply(Text("word " * 1000, chunks=1000)))
        target = provider(slow.url)
        try:
            stream = target.stream(request())
            assert isinstance(stream, AsyncGenerator)
            first = await anext(stream)
            await stream.aclose()
            assert isinstance(first, TextDelta)
            await wait_until(lambda: slow.handled == 1)
        finally:
            await target.aclose()
    assert slow.usages == []  # the reply was never completed


async def test_status_errors_are_the_sdks_translated(fake: FakeAnthropic) -> None:
    fake.script(ApiError(429, "rate_limit_error", "slow down", retry_after=7))
    _seen, error = await failing(provider(fake.url))
    assert (error.kind, error.retryable, error.status, error.retry_after) == (
        "rate_limit",
        True,
        429,
        7.0,
    )


async def test_the_sdk_still_retries_a_retryable_status(fake: FakeAnthropic) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    fake.fail_next(Fault(529, overloaded, headers={"retry-after-ms": "1"}))
    fake.script(Reply(Text("Second try.")))
    target = provider(fake.url, retries=1)
    try:
        events = await collect(target)
    finally:
        await target.aclose()
    assert texts(events) == "Second try."
    assert len(fake.chat_requests()) == 2
    retried = fake.chat_requests()[1].headers
    assert retried["x-stainless-retry-count"] == "1"


# -- a stream cut short ----------------------------------------------------------------------


class CuttingServer(FakeServer):
    """Serves :data:`RECORDED` up to byte ``cut``, then aborts the connection (``abort``) or
    ends the body cleanly, as a proxy that drops the rest would."""

    def __init__(self, cut: int, *, abort: bool) -> None:
        super().__init__()
        self.cut = cut
        self.abort = abort

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self._messages)]

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(RECORDED[: self.cut])
        if self.abort:
            assert request.transport is not None
            request.transport.abort()  # no end of the chunked body: the client sees a cut
            return response
        await response.write_eof()
        return response


CUT_AFTER_TEXT = RECORDED.index(b"event: content_block_stop")


@pytest.mark.parametrize(
    ("abort", "reason"),
    [(True, "connection lost (ReadError)"), (False, "ended before message_stop")],
    ids=["connection-cut", "body-ended"],
)
async def test_a_stream_cut_short_is_a_connection_error(abort: bool, reason: str) -> None:
    async with CuttingServer(CUT_AFTER_TEXT, abort=abort) as server:
        seen, error = await failing(provider(server.url))
    assert texts(seen) == "Zeit in 東京: "
    assert (error.kind, error.retryable) == ("connection", True)
    assert reason in str(error)


async def test_the_whole_recorded_stream_is_a_complete_answer() -> None:
    async with CuttingServer(len(RECORDED), abort=False) as server:
        target = provider(server.url)
        try:
            events: list[Any] = await collect(target)
        finally:
            await target.aclose()
    assert texts(events) == "Zeit in 東京: "
    assert isinstance(events[-1], ResponseDone) and events[-1].stop_reason == "tool_use"

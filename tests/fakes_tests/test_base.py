"""FakeServer plumbing and the scripting helpers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import anthropic
import httpx2
import pytest
from aiohttp import web

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import FakeServer, Fault, json_response
from tests.fakes.script import ApiError, Reply, ScriptBook, Text, split_evenly


class PingFake(FakeServer):
    """Minimal subclass: ``GET /ping`` answers, ``GET /boom`` has a bug."""

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ping", self._ping), web.get("/boom", self._boom)]

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return json_response({"pong": True})

    async def _boom(self, request: web.Request) -> web.StreamResponse:
        raise ValueError("bug in the fake")


@pytest.mark.asyncio
async def test_records_requests_and_serves_faults_in_order() -> None:
    async with PingFake() as fake, aiohttp.ClientSession() as http:
        assert fake.url.startswith("http://127.0.0.1:")
        fake.fail_next(Fault(429, {"retry": 1}, {"retry-after": "1"}), Fault(500))
        statuses = []
        for _ in range(3):
            async with http.get(fake.url + "/ping", params={"q": "1"}) as response:
                statuses.append((response.status, response.headers.get("retry-after")))
        assert statuses == [(429, "1"), (500, None), (200, None)]
        assert [(r.method, r.path, r.json) for r in fake.requests] == [("GET", "/ping", None)] * 3
        await fake.wait_for(lambda: fake.handled == 3)


@pytest.mark.asyncio
async def test_fault_delay_is_applied() -> None:
    async with PingFake() as fake, aiohttp.ClientSession() as http:
        fake.fail_next(Fault(503, delay=0.05))
        started = time.monotonic()
        async with http.get(fake.url + "/ping") as response:
            assert response.status == 503
        assert time.monotonic() - started >= 0.05


@pytest.mark.asyncio
async def test_wait_for_times_out_with_context() -> None:
    async with PingFake() as fake:
        with pytest.raises(TimeoutError, match="0 request"):
            await fake.wait_for(lambda: bool(fake.requests), timeout=0.05)


@pytest.mark.asyncio
async def test_handler_bug_surfaces_at_close() -> None:
    fake = await PingFake().start()
    async with aiohttp.ClientSession() as http, http.get(fake.url + "/boom") as response:
        assert response.status == 500
    with pytest.raises(RuntimeError, match="bug in the fake"):
        await fake.close()


@pytest.mark.asyncio
async def test_close_with_stream_still_gated() -> None:
    gate = asyncio.Event()
    fake = await FakeAnthropic().start()
    fake.script(Reply(Text("never", gate=gate)))
    async with anthropic.AsyncAnthropic(api_key="x", base_url=fake.url, max_retries=0) as client:

        async def consume() -> None:
            async with client.messages.stream(
                model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                await stream.get_final_message()

        task = asyncio.create_task(consume())
        await fake.wait_for(lambda: len(fake.chat_requests()) == 1)
        async with asyncio.timeout(5):
            await fake.close()
            # the SDK surfaces a connection cut mid-stream as a raw httpx2 error
            with pytest.raises(httpx2.RemoteProtocolError):
                await task


def test_split_evenly() -> None:
    assert split_evenly("abcdefg", 3) == ["abc", "def", "g"]
    assert split_evenly("ab", 5) == ["a", "b"]
    assert split_evenly("", 3) == []


def test_script_book_markers_then_fifo_then_echo() -> None:
    book = ScriptBook()
    book.add([ApiError(500)])
    book.add_for("[x]", [Reply(Text("for x"))])
    tool_turn = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
    messages = [{"role": "user", "content": "hello [x]"}, tool_turn]
    assert book.next_for(messages) == Reply(Text("for x"))
    assert book.next_for(messages) == ApiError(500)
    assert book.next_for(messages) == Reply(Text("echo: hello [x]"))
    assert book.pending() == 0

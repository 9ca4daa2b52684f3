"""The simulated provider in a process of its own.

The model fakes (tests/fakes/anthropic.py, openai.py) run here, with a :class:`SimulatedLatency`
and generated replies, so that their CPU time is not counted as Hearth's (on two cores the fake
gets the other one). The benchmark process starts it with :class:`ModelServer` and talks to it
over loopback:

* ``GET /bench/calls``: the simulated calls since the last read (and forgets them);
* ``POST /bench/config``: ``{"latency": {...LatencyModel}, "reply_chars": n, "delta_chars": n}``.

Run by hand: ``python -m bench.model_server`` prints one JSON line with the URLs, then serves
until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bench.prompts import paragraph
from bench.results import ROOT, child_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import recorded
from tests.fakes.latency import LatencyModel, SimulatedCall, SimulatedLatency, label_of
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply, Script, Text

MIN_CACHEABLE_TOKENS = 1024
"""Anthropic's minimum cacheable prompt for Sonnet-class models."""
START_TIMEOUT_S = 60.0
ARRIVED = web.RequestKey("bench_arrived_ns", int)


@dataclass
class ReplyShape:
    """How long the generated answers are and how they are cut into streamed deltas."""

    chars: int = 480
    delta_chars: int = 16

    def reply(self, label: str) -> Reply:
        """A deterministic answer for the call labelled ``label``."""
        text = paragraph(label or "reply", self.chars)
        return Reply(Text(text, chunks=max(1, math.ceil(len(text) / self.delta_chars))))


class _Stamping(asyncio.Protocol):
    """An HTTP server connection (``inner``) that notes when each request's first bytes are read.

    A request's stamp is taken once its body has been read in full (:meth:`Control.stamping`), so
    the next bytes on the connection begin the next request.
    """

    def __init__(self, inner: asyncio.Protocol, first: dict[asyncio.BaseTransport, int]) -> None:
        self._inner = inner
        self._first = first
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._first.setdefault(self._transport, time.perf_counter_ns())
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._first.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class StampingSite(web.TCPSite):
    """``127.0.0.1`` on an OS-assigned port, each connection wrapped in :class:`_Stamping`.

    :meth:`web.TCPSite.start` with the protocol factory wrapped (its attributes are aiohttp's).
    """

    def __init__(self, runner: web.AppRunner, first: dict[asyncio.BaseTransport, int]) -> None:
        super().__init__(runner, "127.0.0.1", 0)
        self._first = first

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        first = self._first
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Stamping(server(), first), self._host, self._port
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]


@dataclass
class Control:
    """What both fakes of the process share: the simulated provider and the reply shape."""

    latency: SimulatedLatency = field(default_factory=lambda: SimulatedLatency(LatencyModel()))
    shape: ReplyShape = field(default_factory=ReplyShape)
    arrivals: dict[str, int] = field(default_factory=dict)
    """``perf_counter_ns()`` when each labelled model request reached the fake."""
    first_bytes: dict[asyncio.BaseTransport, int] = field(default_factory=dict)
    """Per connection, when this process read the first bytes of its current request."""

    def site(self, runner: web.AppRunner) -> web.BaseSite:
        """A listening site whose connections note when requests arrive."""
        return StampingSite(runner, self.first_bytes)

    def stamping(self, inner: Middleware) -> Middleware:
        """``inner`` behind a middleware that notes when a request arrived: when this process
        read its first bytes. The provider's time starts there; everything this process does
        with the request from then on (the HTTP server's parsing included) is the provider's."""

        @web.middleware
        async def stamp(request: web.Request, handler: Handler) -> web.StreamResponse:
            await request.read()  # all of it: the connection's next bytes are the next request
            first = (
                None if request.transport is None else self.first_bytes.pop(request.transport, None)
            )
            request[ARRIVED] = first or time.perf_counter_ns()
            return await inner(request, handler)

        return stamp

    def timed(self, handler: Handler) -> Handler:
        """``handler``, keeping each model request's arrival stamp under its label."""

        async def arrive(request: web.Request) -> web.StreamResponse:
            body = recorded(request).json
            if isinstance(body, dict):
                self.arrivals[label_of(body)] = request.get(ARRIVED) or time.perf_counter_ns()
            return await handler(request)

        return arrive

    def timed_routes(
        self, routes: list[web.RouteDef], chat_paths: frozenset[str]
    ) -> list[web.RouteDef]:
        """``routes`` with the model-call handlers wrapped by :meth:`timed`."""
        return [
            web.route(r.method, r.path, self.timed(r.handler)) if r.path in chat_paths else r
            for r in routes
        ]

    def take_calls(self) -> list[dict[str, Any]]:
        """The simulated calls since the last read, each with ``arrived_ns`` (0 if unknown)."""
        taken = []
        for call in self.latency.take_calls():
            arrived = self.arrivals.pop(call.label, 0)
            taken.append(call.as_dict() | {"arrived_ns": arrived})
        return taken

    def configure(self, data: dict[str, Any]) -> None:
        """Apply a ``/bench/config`` body."""
        if "latency" in data:
            self.latency.model = LatencyModel(**data["latency"])
        if "reply_chars" in data:
            self.shape.chars = int(data["reply_chars"])
        if "delta_chars" in data:
            self.shape.delta_chars = max(1, int(data["delta_chars"]))

    def routes(self) -> list[web.RouteDef]:
        """The control endpoints."""

        async def calls(_request: web.Request) -> web.Response:
            return web.json_response(self.take_calls())

        async def configure(request: web.Request) -> web.Response:
            self.configure(await request.json())
            return web.json_response({"ok": True})

        return [web.get("/bench/calls", calls), web.post("/bench/config", configure)]


class BenchAnthropic(FakeAnthropic):
    """The Anthropic fake answering every request with a generated reply."""

    def __init__(self, control: Control) -> None:
        super().__init__(min_cacheable_tokens=MIN_CACHEABLE_TOKENS, models=("claude-bench",))
        self.latency = control.latency
        self._control = control

    def routes(self) -> list[web.RouteDef]:
        timed = self._control.timed_routes(super().routes(), self.chat_paths)
        return [*timed, *self._control.routes()]

    def _make_middleware(self) -> Middleware:
        return self._control.stamping(super()._make_middleware())

    def _site(self, runner: web.AppRunner) -> web.BaseSite:
        return self._control.site(runner)

    def next_script(self, body: dict[str, Any]) -> Script:
        # Nothing reads the recorded requests here; dropping them keeps a soak's fake flat.
        self.requests.clear()
        self.usages.clear()
        return self._control.shape.reply(label_of(body))


class BenchOpenAI(FakeOpenAI):
    """The OpenAI fake answering every request with a generated reply."""

    def __init__(self, control: Control) -> None:
        super().__init__(models=("gpt-bench",))
        self.latency = control.latency
        self._control = control

    def routes(self) -> list[web.RouteDef]:
        return self._control.timed_routes(super().routes(), self.chat_paths)

    def _make_middleware(self) -> Middleware:
        return self._control.stamping(super()._make_middleware())

    def _site(self, runner: web.AppRunner) -> web.BaseSite:
        return self._control.site(runner)

    def next_script(self, body: dict[str, Any]) -> Script:
        self.requests.clear()
        self.usages.clear()
        return self._control.shape.reply(label_of(body))


async def serve() -> None:
    """Start both fakes, print their URLs as one JSON line, serve until stdin closes."""
    control = Control()
    async with BenchAnthropic(control) as anthropic, BenchOpenAI(control) as openai:
        line = {"anthropic": anthropic.url, "openai": openai.url, "pid": os.getpid()}
        print(json.dumps(line), flush=True)
        loop = asyncio.get_running_loop()
        # The parent closes our stdin to stop us (and the pipe closes if it dies).
        await loop.run_in_executor(None, sys.stdin.read)


@dataclass(frozen=True)
class ProviderCall:
    """A simulated call and when its request reached the fake's handler (``perf_counter_ns``)."""

    simulated: SimulatedCall
    arrived_ns: int

    @property
    def held_ns(self) -> int:
        """The provider's share of the TTFT: from the request reaching the fake (headers read)
        to the fake having written the first content delta (else the end of the simulated
        wait)."""
        if not self.arrived_ns:
            return round(self.simulated.slept_s * 1e9)
        return self.first_token_ns - self.arrived_ns

    @property
    def first_token_ns(self) -> int:
        """When the first token left the fake (``perf_counter_ns``)."""
        return self.simulated.emitted_ns or self.simulated.until_ns


class ModelServer:
    """Handle of a running model-fake process (see the module docstring)."""

    def __init__(self, process: asyncio.subprocess.Process, urls: dict[str, Any]) -> None:
        self.process = process
        self.anthropic_url: str = urls["anthropic"]
        self.openai_url: str = urls["openai"]
        self.pid: int = int(urls["pid"])
        self._http = aiohttp.ClientSession()

    async def configure(
        self,
        latency: LatencyModel,
        *,
        reply_chars: int | None = None,
        delta_chars: int | None = None,
    ) -> None:
        """Set the simulated provider's timing and the shape of its answers."""
        body: dict[str, Any] = {"latency": latency.as_dict()}
        if reply_chars is not None:
            body["reply_chars"] = reply_chars
        if delta_chars is not None:
            body["delta_chars"] = delta_chars
        async with self._http.post(f"{self.anthropic_url}/bench/config", json=body) as response:
            response.raise_for_status()

    async def calls(self) -> list[ProviderCall]:
        """The simulated calls since the last read."""
        async with self._http.get(f"{self.anthropic_url}/bench/calls") as response:
            response.raise_for_status()
            data = await response.json()
        return [
            ProviderCall(
                SimulatedCall(**{k: v for k, v in item.items() if k != "arrived_ns"}),
                item["arrived_ns"],
            )
            for item in data
        ]

    async def aclose(self) -> None:
        """Stop the process (close its stdin; kill it if it does not exit)."""
        await self._http.close()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def model_server(
    latency: LatencyModel | None = None, *, reply_chars: int = 480, delta_chars: int = 16
) -> AsyncIterator[ModelServer]:
    """Start the model fakes in a child process; stopped on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.model_server",
        cwd=ROOT,
        env=child_env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        if not line:
            raise RuntimeError("the model fake process exited before it was ready")
        server = ModelServer(process, json.loads(line))
    except BaseException:
        process.kill()
        await process.wait()
        raise
    try:
        await server.configure(
            latency or LatencyModel(), reply_chars=reply_chars, delta_chars=delta_chars
        )
        yield server
    finally:
        await server.aclose()


def main() -> None:
    """``python -m bench.model_server``."""
    argparse.ArgumentParser(description=__doc__).parse_args()
    asyncio.run(serve())


if __name__ == "__main__":
    main()

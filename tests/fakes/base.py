"""Loopback aiohttp server base class shared by all fakes.

A :class:`FakeServer` listens on ``127.0.0.1`` with an OS-assigned port, records
every request it receives and can be told to answer the next request(s) with an
injected :class:`Fault` instead of the normal response.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


@dataclass
class RecordedRequest:
    """One HTTP request as received by a fake server."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # parsed JSON body, or None when the body is empty or not JSON


RECORD_KEY = web.RequestKey("fake_recorded", RecordedRequest)
"""Key under which the middleware stores the :class:`RecordedRequest` on the aiohttp request."""


@dataclass
class Fault:
    """A canned response served instead of the normal one (consumed by one request).

    ``body`` is sent as JSON (``None`` means an empty body); ``delay`` seconds are
    waited before answering.
    """

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return ``payload`` as JSON with the exact content type ``application/json``."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


class FakeServer:
    """Base class: an aiohttp app on ``127.0.0.1:0`` used as an async context manager.

    Subclasses override :meth:`routes`. Unexpected exceptions raised by handlers are
    collected in :attr:`errors` and re-raised when the server is closed, so a bug in
    a fake cannot hide behind an HTTP 500.
    """

    shutdown_timeout: float = 0.25

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []
        self.handled = 0
        """Number of requests whose response has been fully written."""
        self._faults: deque[Fault] = deque()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- subclass API -------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """Return the routes served by this fake (override in subclasses)."""
        return []

    # -- lifecycle ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:45123`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    async def start(self) -> Self:
        """Start listening on ``127.0.0.1`` with an OS-assigned port."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        app = web.Application(middlewares=[self._make_middleware()])
        app.add_routes(self.routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        site = self._site(runner)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        return self

    def _site(self, runner: web.AppRunner) -> web.BaseSite:
        """Where the app listens: ``127.0.0.1`` on an OS-assigned port."""
        return web.TCPSite(runner, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop the server; raise if any handler failed unexpectedly."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self.errors:
            errors, self.errors = self.errors, []
            raise RuntimeError(f"{type(self).__name__} handler errors: {errors!r}") from errors[0]

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.errors.clear()  # do not mask the test's own failure
        await self.close()

    # -- test helpers -------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults; each is served, in order, to one upcoming request."""
        self._faults.extend(faults)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout argument is the agreed test API
    ) -> None:
        """Poll ``predicate`` until it is true; raise ``TimeoutError`` after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                seen = [f"{r.method} {r.path}" for r in self.requests]
                what = getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(
                    f"{type(self).__name__}: condition {what} "
                    f"not met within {timeout}s; {len(seen)} request(s) seen: {seen}"
                )
            await asyncio.sleep(0.005)

    # -- internals ----------------------------------------------------------------

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._dispatch(request, handler)

        return middleware

    async def _dispatch(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=_parse_json(body),
        )
        self.requests.append(recorded)
        request[RECORD_KEY] = recorded
        try:
            if self._faults:
                return await self._serve_fault(self._faults.popleft())
            return await handler(request)
        except (web.HTTPException, ConnectionResetError):
            raise
        except Exception as exc:  # a bug in the fake: surface it at close()
            self.errors.append(exc)
            raise
        finally:
            self.handled += 1

    @staticmethod
    async def _serve_fault(fault: Fault) -> web.Response:
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault.body is None:
            return web.Response(status=fault.status, headers=fault.headers)
        return json_response(fault.body, status=fault.status, headers=fault.headers)


def recorded(request: web.Request) -> RecordedRequest:
    """Return the :class:`RecordedRequest` the middleware stored for ``request``."""
    return request[RECORD_KEY]

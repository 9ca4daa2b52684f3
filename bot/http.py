"""The one HTTP server: ``/healthz``, ``/readyz``, ``/metrics`` and the platforms' webhook routes."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Self

from aiohttp import web

from bot.health import Heartbeat
from bot.metrics import CONTENT_TYPE, Metrics

STARTING = "not ready\nproblem starting\n"


async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


class OpsEndpoints:
    """``/readyz`` and ``/metrics`` of the runtime attached to them.

    The server starts before the runtime (a webhook must be reachable while channels connect) and
    stops after it (``/readyz`` says "shutting down" during the grace period), so the endpoints
    answer 503 until a runtime is attached.
    """

    def __init__(self) -> None:
        self._health: Heartbeat | None = None
        self._metrics: Metrics | None = None

    def attach(self, health: Heartbeat | None, metrics: Metrics) -> None:
        """Serve the readiness of ``health`` and the figures of ``metrics`` from now on."""
        self._health, self._metrics = health, metrics

    def routes(self) -> list[web.RouteDef]:
        """The two routes, for :class:`HttpServer`."""
        return [web.get("/readyz", self._readyz), web.get("/metrics", self._serve_metrics)]

    async def _readyz(self, _request: web.Request) -> web.Response:
        report = self._health.readiness() if self._health is not None else None
        if report is None:
            return web.Response(status=503, text=STARTING)
        return web.Response(status=200 if report.ready else 503, text=report.text())

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        if self._metrics is None:
            return web.Response(status=503, text="starting\n")
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})


class HttpServer:
    """aiohttp on ``host:port`` serving ``/healthz`` plus the given routes."""

    def __init__(self, host: str, port: int, routes: Iterable[web.RouteDef] = ()) -> None:
        self._host = host
        self._port = port
        app = web.Application()
        app.add_routes([web.get("/healthz", _healthz), *routes])
        self._runner = web.AppRunner(app, access_log=None)
        self.port = port

    async def __aenter__(self) -> Self:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        # With port 0 the OS picks one; report the real one.
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._runner.cleanup()

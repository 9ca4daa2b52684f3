"""The one HTTP server: health today, metrics and platform webhooks mount their routes here."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Self

from aiohttp import web


async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


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

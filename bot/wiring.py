"""The composition root: the only module that names concrete classes together.

The parts are built in :mod:`bot.toolbox` (tools, memory, reminders, MCP) and :mod:`bot.assembly`
(agent, access control, runtime, health, jobs); :func:`open_runtime` puts them together and owns
what has to be closed. Provider and channel modules are imported only for the kinds configured:
each pulls in an SDK that takes up to seconds of CPU to import.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from agent.clock import Clock, SystemClock
from agent.providers.base import ModelProvider
from bot.assembly import (
    build_access,
    build_agent,
    build_heartbeat,
    build_runtime,
    schedule_service_jobs,
)
from bot.redaction import configured_secrets, redacting
from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.store.base import Store
from bot.store.sqlite import SqliteStore
from bot.toolbox import build_tools, open_tooling
from channels.base import Channel
from config import ProviderSettings, Settings

__all__ = [
    "DB_FILE",
    "build_channels",
    "build_providers",
    "build_tools",
    "http_routes",
    "open_runtime",
    "open_store",
]

DB_FILE = "hearth.db"


def build_providers(settings: Settings) -> dict[str, ModelProvider]:
    """One provider per configured endpoint."""
    return {name: _provider(name, options) for name, options in settings.models.providers.items()}


def _provider(name: str, options: ProviderSettings) -> ModelProvider:
    # Imported here, not at the top: anthropic and openai each take over a second to import.
    if options.kind == "anthropic":
        from agent.providers.anthropic import AnthropicProvider  # noqa: PLC0415

        return AnthropicProvider(name, options)
    from agent.providers.openai import OpenAIProvider  # noqa: PLC0415

    return OpenAIProvider(name, options)


def build_channels(settings: Settings) -> list[Channel]:
    """The platform channels whose sections are configured."""
    # Each adapter is imported only when its section is set: every one pulls in its platform SDK.
    channels: list[Channel] = []
    if settings.channels.telegram is not None:
        from channels.telegram import TelegramChannel  # noqa: PLC0415

        channels.append(TelegramChannel(settings.channels.telegram))
    if settings.channels.discord is not None:
        from channels.discord import DiscordChannel  # noqa: PLC0415

        channels.append(DiscordChannel(settings.channels.discord))
    if settings.channels.slack is not None:
        from channels.slack import SlackChannel  # noqa: PLC0415

        channels.append(SlackChannel(settings.channels.slack))
    return channels


def http_routes(channels: Sequence[Channel]) -> list[web.RouteDef]:
    """Routes that channels serve on the shared HTTP server (webhooks, events endpoints)."""
    routes: list[web.RouteDef] = []
    for channel in channels:
        provide = getattr(channel, "http_routes", None)
        if provide is not None:
            routes.extend(provide())
    return routes


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[SqliteStore]:
    """The embedded default store under ``data_dir``."""
    async with SqliteStore(settings.data_dir / DB_FILE) as store:
        yield store


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    channels: Sequence[Channel],
    *,
    store: Store | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Runtime]:
    """Build, start and finally stop the whole service.

    Shutdown order: scheduled jobs, then the runtime (channels pause, intake closes, lanes finish
    within ``shutdown.grace``, channels stop; see :meth:`Runtime.aclose`), access control's and
    the tools' connections, MCP servers and HTTP clients, providers, store. A start-up failure
    releases whatever was acquired before it.
    """
    clock = clock or SystemClock()
    by_name = {channel.name: channel for channel in channels}
    async with contextlib.AsyncExitStack() as stack:
        # First in, last out: it also masks secrets in the error that may end the block.
        stack.enter_context(redacting(configured_secrets(settings)))
        if store is None:
            store = await stack.enter_async_context(open_store(settings))
        providers = build_providers(settings)
        for provider in providers.values():
            stack.push_async_callback(provider.aclose)
        tool_db = await _sqlite(stack, settings, store)
        tooling = await open_tooling(stack, settings, tool_db, by_name, clock)
        agent = build_agent(settings, providers, tooling.tools)
        access_db = await _sqlite(stack, settings, store)
        access = build_access(settings, access_db, by_name, clock)
        runtime = build_runtime(
            settings,
            store=store,
            providers=providers,
            channels=by_name,
            agent=agent,
            access=access,
            recall=tooling.recall,
            clock=clock,
        )
        stack.push_async_callback(runtime.aclose)
        scheduler = Scheduler()
        stack.push_async_callback(scheduler.aclose)
        runtime.health = build_heartbeat(settings, runtime, store, clock)
        schedule_service_jobs(
            scheduler,
            settings,
            runtime=runtime,
            heartbeat=runtime.health,
            store=store,
            agent=agent,
            tooling=tooling,
            clock=clock,
        )
        await runtime.start()
        await runtime.health.beat(probe_providers=False)  # /readyz answers from the start
        scheduler.start()
        await tooling.reminders.start(scheduler)  # pending ones, also those set before a restart
        yield runtime


async def _sqlite(
    stack: contextlib.AsyncExitStack, settings: Settings, store: Store
) -> SqliteStore:
    # Tools and access control share the store's SQLite connection; a wrapped store (tests) has
    # none to share, so each of them gets a connection of its own, closed by ``stack``.
    if isinstance(store, SqliteStore):
        return store
    return await stack.enter_async_context(open_store(settings))

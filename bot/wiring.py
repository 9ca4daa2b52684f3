"""The composition root: the only module that names concrete classes together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from agent.clock import Clock, SystemClock
from agent.providers.anthropic import AnthropicProvider
from agent.providers.base import ModelProvider
from agent.providers.openai import OpenAIProvider
from agent.responder import Agent
from agent.routing import CircuitBreaker
from agent.tools.builtins import time_tool
from agent.tools.registry import ToolExecutor, ToolRegistry
from bot.commands import CommandHandler
from bot.compaction import Compactor
from bot.pipeline import DurableDedupe, MentionGate, ignore_bots
from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.sessions import SessionPool
from bot.store.base import Store
from bot.store.sqlite import SqliteStore
from bot.turns import TurnRunner
from channels.base import Channel
from channels.discord import DiscordChannel
from channels.slack import SlackChannel
from channels.telegram import TelegramChannel
from config import Settings

DB_FILE = "hearth.db"


def build_providers(settings: Settings) -> dict[str, ModelProvider]:
    """One provider per configured endpoint."""
    providers: dict[str, ModelProvider] = {}
    for name, options in settings.models.providers.items():
        if options.kind == "anthropic":
            providers[name] = AnthropicProvider(name, options)
        else:
            providers[name] = OpenAIProvider(name, options)
    return providers


def build_tools(clock: Clock) -> ToolRegistry:
    """The built-in tools."""
    return ToolRegistry([time_tool(clock)])


def build_channels(settings: Settings) -> list[Channel]:
    """The platform channels whose sections are configured."""
    channels: list[Channel] = []
    if settings.channels.telegram is not None:
        channels.append(TelegramChannel(settings.channels.telegram))
    if settings.channels.discord is not None:
        channels.append(DiscordChannel(settings.channels.discord))
    if settings.channels.slack is not None:
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

    Shutdown order: scheduled jobs, intake and lanes (in-flight turns finish), channels,
    providers, store. A start-up failure releases whatever was acquired before it.
    """
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(open_store(settings))
        providers = build_providers(settings)
        for provider in providers.values():
            stack.push_async_callback(provider.aclose)
        tools = build_tools(clock)
        agent = Agent(
            providers,
            settings.models,
            tools,
            ToolExecutor(
                tools,
                timeout=settings.agent.tool_timeout.total_seconds(),
                output_limit=settings.tools.output_limit,
            ),
            max_tool_rounds=settings.agent.max_tool_rounds,
            breaker=CircuitBreaker(settings.models.circuit),
        )
        pool = SessionPool(
            store,
            capacity=settings.sessions.max_warm,
            idle_ttl_s=settings.sessions.idle_ttl.total_seconds(),
        )
        compactor = Compactor(agent, store, settings.models, settings.agent.compaction)
        by_name = {channel.name: channel for channel in channels}
        runtime = Runtime(
            channels=by_name,
            middlewares=[ignore_bots, MentionGate(settings), DurableDedupe(store)],
            turns=TurnRunner(
                settings=settings,
                pool=pool,
                store=store,
                agent=agent,
                channels=by_name,
                clock=clock,
                compactor=compactor,
            ),
            commands=CommandHandler(
                settings=settings, pool=pool, store=store, agent=agent, compactor=compactor
            ),
            pool=pool,
            providers=providers,
            lane_mode=settings.sessions.lane_mode,
            max_concurrent=settings.sessions.max_concurrent_turns,
            grace_s=settings.shutdown.grace.total_seconds(),
        )
        stack.push_async_callback(runtime.aclose)
        scheduler = Scheduler()
        stack.push_async_callback(scheduler.aclose)
        await runtime.start()
        scheduler.start()
        yield runtime

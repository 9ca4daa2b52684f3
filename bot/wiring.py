"""The composition root: the only module that names concrete classes together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from agent.clock import Clock, SystemClock
from agent.memory import Embeddings, HybridMemories
from agent.memory.openai_embedder import OpenAIEmbedder
from agent.providers.anthropic import AnthropicProvider
from agent.providers.base import ModelProvider
from agent.providers.openai import OpenAIProvider
from agent.responder import Agent
from agent.routing import CircuitBreaker
from agent.tools.builtins import TOOL_GROUPS, time_tool
from agent.tools.memory import MemoryStore, memory_tools
from agent.tools.registry import ToolExecutor, ToolRegistry
from agent.tools.reminders import ReminderBook, reminder_tools
from agent.tools.web_fetch import WebFetcher, web_fetch_tool
from bot.access import AccessGate, AccessRules
from bot.commands import AccessTools, CommandHandler, is_command
from bot.compaction import Compactor
from bot.health import Heartbeat, alert_sender
from bot.inbox import Inbox
from bot.jobs import Pruner, schedule_jobs
from bot.ledger import Ledger
from bot.limits import Limits
from bot.logs import log_turn
from bot.memory import MemoryExtractor
from bot.metrics import Metrics
from bot.pairing import Pairing
from bot.pipeline import DurableDedupe, ignore_bots
from bot.recall import Recall
from bot.recovery import Recovery
from bot.redaction import configured_secrets, redacting
from bot.reminders import ReminderService
from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.sessions import SessionPool
from bot.store.access import SqliteAccessStore
from bot.store.base import Store, TurnRecord
from bot.store.memories import SqliteMemories
from bot.store.reminders import SqliteReminders
from bot.store.sqlite import SqliteStore
from bot.turns import TurnRunner
from channels.base import Channel
from channels.discord import DiscordChannel
from channels.slack import SlackChannel
from channels.telegram import TelegramChannel
from config import ConfigError, Settings
from config.memory import check_embedder

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


def build_tools(
    clock: Clock,
    *,
    memories: MemoryStore | None = None,
    reminders: ReminderBook | None = None,
    fetcher: WebFetcher | None = None,
) -> ToolRegistry:
    """The built-in tools; memory, reminders and web_fetch when given what they work with."""
    registry = ToolRegistry([time_tool(clock)], groups=TOOL_GROUPS)
    extra = [
        *(memory_tools(memories, clock) if memories is not None else []),
        *(reminder_tools(reminders, clock) if reminders is not None else []),
        *([web_fetch_tool(fetcher)] if fetcher is not None else []),
    ]
    for tool in extra:
        registry.add(tool)
    return registry


def check_tool_names(settings: Settings, tools: ToolRegistry) -> None:
    """Fail at start on an allowlist entry or MCP server name that makes no sense.

    Raises:
        ConfigError: Naming the key.
    """
    for server in settings.tools.mcp:
        if tools.knows(server):
            raise ConfigError(f"tools.mcp.{server}", "is the name of a built-in tool or group")
    groups = ", ".join(sorted(TOOL_GROUPS))
    for name, profile in settings.agent.profiles.items():
        for index, entry in enumerate(profile.tools):
            if not tools.knows(entry) and entry.partition(".")[0] not in settings.tools.mcp:
                raise ConfigError(
                    f"agent.profiles.{name}.tools[{index}]",
                    f'unknown tool "{entry}" (tools: {", ".join(tools.names())}; groups: '
                    f"{groups}; MCP tools as server.tool or server.*)",
                )


async def start_mcp_servers(
    stack: contextlib.AsyncExitStack, settings: Settings, tools: ToolRegistry
) -> None:
    """Start the servers of ``tools.mcp`` (stopped by ``stack``) and register their tools."""
    if not settings.tools.mcp:
        return
    # The mcp SDK takes over a second to import: only configurations that use it pay for it.
    from agent.tools.mcp import McpServers, register  # noqa: PLC0415

    register(tools, await stack.enter_async_context(McpServers(settings.tools.mcp)))


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


async def open_memory(
    stack: contextlib.AsyncExitStack, settings: Settings, db: SqliteStore, clock: Clock
) -> Recall:
    """Long-term memory on the SQLite store; with vectors when ``memory.embedder`` is set (its
    client is closed by ``stack``).

    Raises:
        ConfigError: ``memory.embedder`` names no OpenAI-compatible provider.
    """
    check_embedder(settings.memory, settings.models.providers)
    repository = SqliteMemories(db, vector_search=settings.memory.vector_search)
    await repository.prepare()
    chosen = settings.memory.embedder
    embeddings = None
    if chosen is not None:
        provider = settings.models.providers[chosen.provider]
        embedder = OpenAIEmbedder(chosen.provider, provider, chosen)
        stack.push_async_callback(embedder.aclose)
        embeddings = Embeddings(embedder, repository, batch_size=chosen.batch_size)
    return Recall(HybridMemories(repository, settings.memory, embeddings), clock)


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
    within ``shutdown.grace``, channels stop; see :meth:`Runtime.aclose`), providers, store. A
    start-up failure releases whatever was acquired before it.
    """
    clock = clock or SystemClock()
    async with contextlib.AsyncExitStack() as stack:
        # First in, last out: it also masks secrets in the error that may end the block.
        stack.enter_context(redacting(configured_secrets(settings)))
        if store is None:
            store = await stack.enter_async_context(open_store(settings))
        providers = build_providers(settings)
        for provider in providers.values():
            stack.push_async_callback(provider.aclose)
        # Tools: memory and reminders share the SQLite connection (a wrapped store gets its own);
        # MCP servers start before the first turn and stop after the last one.
        tool_db = store if isinstance(store, SqliteStore) else None
        if tool_db is None:
            tool_db = await stack.enter_async_context(open_store(settings))
        reminders = ReminderService(
            SqliteReminders(tool_db),
            {c.name: c for c in channels},
            clock,
            settings.tools.reminders,
        )
        fetcher = WebFetcher(settings.tools.web_fetch)
        stack.push_async_callback(fetcher.aclose)
        recall = await open_memory(stack, settings, tool_db, clock)
        tools = build_tools(clock, memories=recall.memories, reminders=reminders, fetcher=fetcher)
        check_tool_names(settings, tools)
        await start_mcp_servers(stack, settings, tools)
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
        # Access control shares the SQLite connection; a wrapped store (tests) gets its own one.
        access_db = store if isinstance(store, SqliteStore) else None
        if access_db is None:
            access_db = await stack.enter_async_context(open_store(settings))
        access_store = SqliteAccessStore(access_db)
        access_rules = AccessRules(settings)
        pairing = Pairing(access_store, clock)
        access_gate = AccessGate(access_rules, pairing, access_store, by_name, clock)
        limits = Limits(
            settings.limits,
            access_rules,
            access_store,
            by_name,
            clock,
            exempt_from_budget=is_command,
        )
        metrics = Metrics()
        inbox = Inbox(store)
        ledger = Ledger(store, snapshot_interval=settings.sessions.ledger_interval.total_seconds())

        def observe_turn(turn: TurnRecord, error: BaseException | None) -> None:
            metrics.observe_turn(turn, error)
            log_turn(turn, error)

        runtime = Runtime(
            channels=by_name,
            middlewares=[ignore_bots, access_gate, DurableDedupe(inbox), limits],
            turns=TurnRunner(
                settings=settings,
                pool=pool,
                store=store,
                agent=agent,
                channels=by_name,
                clock=clock,
                compactor=compactor,
                observer=observe_turn,
                recall=recall,
                ledger=ledger,
            ),
            commands=CommandHandler(
                settings=settings,
                pool=pool,
                store=store,
                agent=agent,
                compactor=compactor,
                access=AccessTools(access_rules, pairing, access_store, limits, by_name, clock),
                recall=recall,
            ),
            pool=pool,
            providers=providers,
            lane_mode=settings.sessions.lane_mode,
            max_concurrent=settings.sessions.max_concurrent_turns,
            grace_s=settings.shutdown.grace.total_seconds(),
            metrics=metrics,
            inbox=inbox,
            recovery=Recovery(
                store=store, channels=by_name, pool=pool, settings=settings, clock=clock
            ),
            lane_queue=settings.sessions.lane_queue,
        )
        stack.push_async_callback(runtime.aclose)
        scheduler = Scheduler()
        stack.push_async_callback(scheduler.aclose)
        configured = [n for n, c in settings.channels if c is not None]
        runtime.health = Heartbeat(
            watched=runtime,
            store=store,
            providers=providers,
            data_dir=settings.data_dir,
            settings=settings.heartbeat,
            clock=clock,
            alert=alert_sender(settings.heartbeat.alert_to, by_name, configured),
            on_report=metrics.observe_health,
        )
        pruner = Pruner(pool, store, clock, settings.sessions.retention, metrics.observe_retention)
        schedule_jobs(
            scheduler,
            settings,
            pruner=pruner,
            heartbeat=runtime.health,
            store=store,
            memory=MemoryExtractor(recall.memories, tool_db, agent, settings, clock).run,
        )
        await runtime.start()
        await runtime.health.beat(probe_providers=False)  # /readyz answers from the start
        scheduler.start()
        await reminders.start(scheduler)  # pending reminders, also those set before a restart
        yield runtime

"""The agent's tools as configured: built-ins, long-term memory, reminders, web fetch and MCP.

Part of the composition root (:func:`bot.wiring.open_runtime` puts the parts together).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from agent.clock import Clock
from agent.memory import Embeddings, HybridMemories
from agent.tools.builtins import TOOL_GROUPS, time_tool
from agent.tools.memory import MemoryStore, memory_tools
from agent.tools.registry import ToolRegistry
from agent.tools.reminders import ReminderBook, reminder_tools
from agent.tools.web_fetch import WebFetcher, web_fetch_tool
from bot.recall import Recall
from bot.reminders import ReminderService
from bot.store.memories import SqliteMemories
from bot.store.reminders import SqliteReminders
from bot.store.sqlite import SqliteStore
from channels.base import Channel
from config import ConfigError, Settings
from config.memory import check_embedder


@dataclass(frozen=True)
class Tooling:
    """The tool registry and the services behind its tools.

    Attributes:
        tools: Every tool the agent may call (built-ins and MCP).
        reminders: Delivers due reminders into their threads (start it with the scheduler).
        recall: Long-term memory, searched into the prompt and by the memory tools.
        db: The SQLite connection memory and reminders work on.
    """

    tools: ToolRegistry
    reminders: ReminderService
    recall: Recall
    db: SqliteStore


async def open_tooling(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    db: SqliteStore,
    channels: Mapping[str, Channel],
    clock: Clock,
) -> Tooling:
    """Build the tools on ``db``; their HTTP clients and MCP servers are closed by ``stack``.

    Raises:
        ConfigError: A profile's tool allowlist, an MCP server name or ``memory.embedder`` is
            wrong (naming the key).
    """
    reminders = ReminderService(SqliteReminders(db), channels, clock, settings.tools.reminders)
    fetcher = WebFetcher(settings.tools.web_fetch)
    stack.push_async_callback(fetcher.aclose)
    recall = await open_memory(stack, settings, db, clock)
    tools = build_tools(clock, memories=recall.memories, reminders=reminders, fetcher=fetcher)
    check_tool_names(settings, tools)
    # MCP servers start before the first turn and stop after the last one.
    await start_mcp_servers(stack, settings, tools)
    return Tooling(tools=tools, reminders=reminders, recall=recall, db=db)


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
        # The embedder speaks through the openai SDK (over a second to import): only
        # configurations with vectors pay for it.
        from agent.memory.openai_embedder import OpenAIEmbedder  # noqa: PLC0415

        provider = settings.models.providers[chosen.provider]
        embedder = OpenAIEmbedder(chosen.provider, provider, chosen)
        stack.push_async_callback(embedder.aclose)
        embeddings = Embeddings(embedder, repository, batch_size=chosen.batch_size)
    memories = HybridMemories(repository, settings.memory, embeddings)
    stack.push_async_callback(memories.aclose)
    recall = Recall(memories, clock)
    stack.push_async_callback(recall.aclose)  # before the memories' (last in, first out)
    return recall

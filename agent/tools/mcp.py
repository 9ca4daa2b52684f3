"""MCP servers from ``tools.mcp``: started with the runtime, their tools offered like built-ins.

Each server runs in a task of its own (the ``mcp`` SDK's anyio task groups live there, apart from
the runtime's task), started by :class:`McpServers` and stopped when it closes. A tool ``search`` of
the server ``docs`` is read (labels, allowlists) as ``docs.search`` and sent to the model as
``docs__search``, because both model APIs only accept names matching ``^[a-zA-Z0-9_-]{1,64}$``;
characters outside that set become ``_``. A server that fails to start is logged and reported
(``hearth check``), and everything else runs without it. Calls go through the same executor as every
tool: timeout, output cap, allowlist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TextIO

import httpx2
import mcp_types
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from agent.errors import ToolError
from agent.request import ToolSpec
from agent.tools.context import ToolContext
from agent.tools.registry import TOOL_NAME, ToolRegistry, strip_titles
from config.tools import McpServerSettings

log = logging.getLogger(__name__)

SEPARATOR = "__"
MAX_LIST_PAGES = 20
MAX_DESCRIPTION = 1024
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
# The SDK's own defaults for HTTP servers: responses may stream for a long time.
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class McpUnavailableError(ToolError):
    """The server of an MCP tool is not connected (it failed or stopped)."""


def wire_name(server: str, tool: str) -> str:
    """The name the model sees for ``tool`` of ``server`` (may exceed 64 characters: check it)."""
    return f"{server}{SEPARATOR}{_INVALID.sub('_', tool)}"


@dataclass(frozen=True, slots=True)
class McpStatus:
    """How starting one server went (``hearth check``, logs)."""

    name: str
    ok: bool
    tools: tuple[str, ...] = ()
    error: str = ""


class McpConnection:
    """One server's session, held open by a task of its own until :meth:`aclose`."""

    def __init__(self, name: str, settings: McpServerSettings) -> None:
        self.name = name
        self._settings = settings
        self._session: ClientSession | None = None
        self._listed: list[mcp_types.Tool] = []
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def listed(self) -> list[mcp_types.Tool]:
        """The tools the server listed at start."""
        return list(self._listed)

    async def start(self) -> McpStatus:
        """Connect, initialize and list the tools, within ``startup_timeout``; never raises."""
        self._task = asyncio.create_task(self._hold(), name=f"mcp server {self.name}")
        timeout = self._settings.startup_timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            await self.aclose()
            return McpStatus(self.name, False, error=f"did not start within {timeout:g} s")
        if self._session is None:
            await self.aclose()
            return McpStatus(self.name, False, error=_describe(self._error))
        return McpStatus(self.name, True, tuple(t.name for t in self._listed))

    async def call(self, tool: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        """Call ``tool`` on the server.

        Raises:
            McpUnavailableError: The server is not connected.
        """
        session = self._session
        if session is None:
            raise McpUnavailableError(f"MCP server {self.name} is not running")
        return await session.call_tool(tool, arguments)

    async def aclose(self) -> None:
        """End the session and stop the server (idempotent)."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        if not self._ready.is_set():
            task.cancel()  # still connecting (a server that never answers): stop waiting for it
        # The SDK shuts the server down shielded and bounded (close stdin, then kill).
        await asyncio.gather(task, return_exceptions=True)

    async def _hold(self) -> None:
        try:
            async with self._open_session() as session:
                await session.initialize()
                self._listed = await _list_tools(session)
                self._session = session
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # every failure is reported by start() or logged here
            self._error = exc
            if self._ready.is_set():
                log.error("MCP server %s stopped: %s", self.name, _describe(exc))
        finally:
            self._session = None
            self._ready.set()

    @contextlib.asynccontextmanager
    async def _open_session(self) -> AsyncIterator[ClientSession]:
        settings = self._settings
        if settings.command is not None:
            params = StdioServerParameters(
                command=settings.command[0],
                args=settings.command[1:],
                env={k: v.get_secret_value() for k, v in settings.env.items()} or None,
                cwd=settings.cwd,
            )
            async with (
                stdio_client(params, errlog=_stderr()) as (read, write),
                ClientSession(read, write) as session,
            ):
                yield session
            return
        assert settings.url is not None  # McpServerSettings requires command or url
        headers = {k: v.get_secret_value() for k, v in settings.headers.items()}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=_HTTP_TIMEOUT) as http,
            streamable_http_client(settings.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            yield session


@dataclass(frozen=True, slots=True)
class McpTool:
    """A tool of an MCP server, as a :class:`agent.tools.registry.ToolDefinition`."""

    name: str
    label: str
    description: str
    input_schema: dict[str, Any]
    remote_name: str
    connection: McpConnection

    def spec(self) -> ToolSpec:
        """The definition sent to the model."""
        return ToolSpec(self.name, self.description, self.input_schema)

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> str:
        """Call the tool; an error result from the server becomes a :class:`ToolError`."""
        try:
            result = await self.connection.call(self.remote_name, arguments)
        except ToolError:
            raise
        except Exception as exc:  # protocol or transport failure: the model gets the reason
            raise ToolError(f"MCP server {self.connection.name}: {_describe(exc)}") from exc
        text = render_result(result)
        if result.is_error:
            raise ToolError(text or "the tool reported an error")
        return text


def render_result(result: mcp_types.CallToolResult) -> str:
    """A tool result as text: text blocks as they are, other content as short placeholders."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(f"[binary resource {resource.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource {block.uri}]")
        else:
            parts.append(f"[{block.type} content omitted]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True))
    return "\n".join(parts)


class McpServers:
    """All configured servers: started together on enter, stopped on exit.

    ``async with McpServers(settings.tools.mcp) as servers: registry.add(*servers.tools())``
    """

    def __init__(self, servers: Mapping[str, McpServerSettings]) -> None:
        self._connections = [McpConnection(name, s) for name, s in servers.items()]
        self.statuses: list[McpStatus] = []

    async def __aenter__(self) -> Self:
        try:
            self.statuses = list(await asyncio.gather(*(c.start() for c in self._connections)))
        except BaseException:
            await self.aclose()
            raise
        for status in self.statuses:
            if status.ok:
                log.info("MCP server %s: %d tools", status.name, len(status.tools))
            else:
                log.error(
                    "MCP server %s failed to start: %s; running without it",
                    status.name,
                    status.error,
                )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every server."""
        await asyncio.gather(*(c.aclose() for c in self._connections))

    def tools(self) -> dict[str, list[McpTool]]:
        """The tools of each server that started, by server name (names checked, unique)."""
        by_server: dict[str, list[McpTool]] = {}
        for connection in self._connections:
            seen: set[str] = set()
            tools = by_server.setdefault(connection.name, [])
            for listed in connection.listed:
                tool = _tool(connection, listed)
                if tool is None or tool.name in seen:
                    log.warning(
                        "MCP server %s: tool %r skipped (its name does not fit %s or repeats)",
                        connection.name,
                        listed.name,
                        TOOL_NAME.pattern,
                    )
                    continue
                seen.add(tool.name)
                tools.append(tool)
        return by_server


async def probe(servers: Mapping[str, McpServerSettings]) -> list[McpStatus]:
    """Start every server once, list its tools, stop it (``hearth check``)."""
    async with McpServers(servers) as started:
        return started.statuses


def _tool(connection: McpConnection, listed: mcp_types.Tool) -> McpTool | None:
    name = wire_name(connection.name, listed.name)
    if not TOOL_NAME.match(name):
        return None
    schema = strip_titles(listed.input_schema)
    schema.setdefault("type", "object")
    description = listed.description or listed.title or listed.name
    return McpTool(
        name=name,
        label=f"{connection.name}.{listed.name}",
        description=description[:MAX_DESCRIPTION],
        input_schema=schema,
        remote_name=listed.name,
        connection=connection,
    )


async def _list_tools(session: ClientSession) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _page in range(MAX_LIST_PAGES):
        params = None if cursor is None else mcp_types.PaginatedRequestParams(cursor=cursor)
        page = await session.list_tools(params=params)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _stderr() -> TextIO:
    """Where a stdio server's stderr goes: ours, so its complaints end up next to our log.

    The child needs a real file descriptor; when ``sys.stderr`` was replaced by one without (an
    embedding application, a test runner), the process's original stderr is used.
    """
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (OSError, ValueError, AttributeError):
            continue
    raise ToolError("no stderr to give the MCP server")


def _describe(exc: BaseException | None) -> str:
    """One line for the log and ``hearth check``: the innermost real error of an exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "unknown error"
    return f"{type(exc).__name__}: {exc}".strip()


def register(registry: ToolRegistry, servers: McpServers) -> None:
    """Add the servers' tools to ``registry``, with one group per server (``tools: [docs]``).

    A server that failed to start still gets its (empty) group, so allowlists naming it stay valid
    and the bot runs without it.
    """
    for server, tools in servers.tools().items():
        for tool in tools:
            registry.add(tool)
        registry.add_group(server, [tool.name for tool in tools])

"""Typed tools: a registry whose definitions are byte-stable, and an executor that never crashes a turn.

Tool definitions are part of the cached prompt prefix, so :meth:`ToolRegistry.specs` returns them in
name order with canonical schemas. Tool names must match ``^[a-zA-Z0-9_-]{1,64}$`` (both model APIs
reject anything else).

Allowlists (``agent.profiles.<p>.tools``) are lists of patterns, resolved by
:meth:`ToolRegistry.resolve`:

- a tool's name (``time``, ``web_fetch``, the wire name ``docs__search``) or its label
  (``docs.search``: MCP tools are read as ``server.tool`` and sent as ``server__tool``);
- a group: ``memory``, ``reminders``, ``web``, or the name of an MCP server (all of its tools);
- ``prefix.*``: every tool whose label starts with ``prefix.`` (``docs.*``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from agent.errors import ToolError
from agent.messages import ToolResultBlock
from agent.request import ToolCallRequest, ToolSpec
from agent.tools.context import NO_CONTEXT, ToolContext

log = logging.getLogger(__name__)

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TRUNCATION_MARKER = "\n[output truncated by Hearth at {limit} bytes]"

InputT = TypeVar("InputT", bound=BaseModel)


class ToolDefinition(Protocol):
    """Anything the registry can offer to the model: built-ins, function tools, MCP tools."""

    @property
    def name(self) -> str:
        """The name sent to the model (matches :data:`TOOL_NAME`)."""
        ...

    @property
    def label(self) -> str:
        """The name people read and allowlists use (``server.tool`` for an MCP tool)."""
        ...

    def spec(self) -> ToolSpec:
        """The definition sent to the model."""
        ...

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> str:
        """Validate ``arguments`` and run the tool.

        Raises:
            ToolError: The arguments are invalid or the tool could not do its job; the message goes
                back to the model.
        """
        ...


@dataclass(frozen=True, slots=True)
class Tool(Generic[InputT]):
    """A tool whose input is validated into the pydantic model ``input_model`` before it runs.

    Exactly one of ``run`` (input only) and ``run_in_context`` (input and the call's
    :class:`ToolContext`) is given. :func:`agent.tools.schema.function_tool` builds one from a typed
    async function.
    """

    name: str
    description: str
    input_model: type[InputT]
    run: Callable[[InputT], Awaitable[str]] | None = None
    run_in_context: Callable[[InputT, ToolContext], Awaitable[str]] | None = None

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {TOOL_NAME.pattern}")
        if (self.run is None) == (self.run_in_context is None):
            raise ValueError(f"tool {self.name!r} needs exactly one of run and run_in_context")

    @property
    def label(self) -> str:
        """Built-in tools are read as they are sent."""
        return self.name

    def spec(self) -> ToolSpec:
        """The definition sent to the model (schema without pydantic's titles)."""
        return ToolSpec(
            self.name, self.description, strip_titles(self.input_model.model_json_schema())
        )

    async def invoke(self, arguments: dict[str, Any], context: ToolContext = NO_CONTEXT) -> str:
        """Validate ``arguments`` and run the tool."""
        try:
            parsed = self.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolError(f"invalid arguments: {describe_errors(exc)}") from exc
        if self.run_in_context is not None:
            return await self.run_in_context(parsed, context)
        assert self.run is not None  # __post_init__ guarantees one of the two
        return await self.run(parsed)


def describe_errors(exc: ValidationError) -> str:
    """Pydantic's errors in one line the model can act on (``text: Field required``)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
    )


def strip_titles(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema without pydantic's generated ``title`` keywords (tokens the model never needs).

    Only the keyword is removed: a property that is itself called ``title`` stays.
    """
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(
            value, dict
        ):
            result[key] = {
                k: strip_titles(v) if isinstance(v, dict) else v for k, v in value.items()
            }
        elif isinstance(value, dict):
            result[key] = strip_titles(value)
        elif isinstance(value, list):
            result[key] = [strip_titles(v) if isinstance(v, dict) else v for v in value]
        else:
            result[key] = value
    return result


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """The result block for the model plus what the runtime records about the call."""

    result: ToolResultBlock
    name: str
    duration_ns: int


class ToolRegistry:
    """All tools known to this process; a profile's allowlist picks the ones its model may see."""

    def __init__(
        self,
        tools: Iterable[ToolDefinition] = (),
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._tools: dict[str, ToolDefinition] = {}
        self._labels: dict[str, str] = {}
        self._groups: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (groups or {}).items()}
        self._resolved: dict[tuple[str, ...], frozenset[str]] = {}
        self._specs: dict[frozenset[str], tuple[ToolSpec, ...]] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: ToolDefinition) -> None:
        """Register ``tool``; names and labels are unique."""
        if tool.name in self._tools or tool.label in self._labels:
            raise ValueError(f"tool {tool.label!r} registered twice")
        self._tools[tool.name] = tool
        self._labels[tool.label] = tool.name
        self._forget_cached()

    def add_group(self, name: str, members: Iterable[str]) -> None:
        """Let allowlists say ``name`` for all of ``members`` (tool names or labels)."""
        self._groups[name] = tuple(members)
        self._forget_cached()

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted(self._tools)

    def get(self, name: str) -> ToolDefinition | None:
        """The tool called ``name``, if registered."""
        return self._tools.get(name)

    def resolve(self, patterns: Iterable[str]) -> frozenset[str]:
        """The names of the registered tools an allowlist admits (see the module docstring)."""
        key = tuple(patterns)
        cached = self._resolved.get(key)
        if cached is None:
            cached = self._resolved[key] = frozenset(n for p in key for n in self._expand(p))
        return cached

    def knows(self, pattern: str) -> bool:
        """Whether ``pattern`` names a tool or group this process knows, even one that offers no
        tool now (a built-in without its store, an MCP server that failed to start)."""
        if pattern in self._tools or pattern in self._labels or pattern in self._groups:
            return True
        if any(pattern in members for members in self._groups.values()):
            return True
        prefix, dot, rest = pattern.partition(".")
        return bool(dot) and prefix in self._groups and bool(rest)

    def specs(self, patterns: Iterable[str]) -> tuple[ToolSpec, ...]:
        """Definitions of the admitted tools, sorted by name (byte-stable, computed once)."""
        allowed = self.resolve(patterns)
        cached = self._specs.get(allowed)
        if cached is None:
            cached = self._specs[allowed] = tuple(
                self._tools[n].spec() for n in sorted(self._tools) if n in allowed
            )
        return cached

    def _expand(self, pattern: str) -> list[str]:
        if pattern in self._groups:
            return [n for m in self._groups[pattern] for n in self._lookup(m)]
        if pattern.endswith(".*"):
            prefix = pattern[:-1]
            return [name for label, name in self._labels.items() if label.startswith(prefix)]
        return self._lookup(pattern)

    def _lookup(self, name_or_label: str) -> list[str]:
        if name_or_label in self._tools:
            return [name_or_label]
        name = self._labels.get(name_or_label)
        return [] if name is None else [name]

    def _forget_cached(self) -> None:
        self._resolved.clear()
        self._specs.clear()


class ToolExecutor:
    """Runs a model response's tool calls in parallel, each bounded in time and output size."""

    def __init__(self, registry: ToolRegistry, *, timeout: float, output_limit: int) -> None:
        self._registry = registry
        self._timeout = timeout
        self._output_limit = output_limit

    async def run_all(
        self,
        calls: Sequence[ToolCallRequest],
        allowed: Iterable[str],
        context: ToolContext = NO_CONTEXT,
    ) -> list[ToolOutcome]:
        """Run independent calls concurrently; results come back in call order.

        Args:
            calls: The tool calls of one model response.
            allowed: The profile's allowlist (patterns, see :meth:`ToolRegistry.resolve`).
            context: Where the calls come from, for tools that ask for it.
        """
        permitted = self._registry.resolve(allowed)
        return list(await asyncio.gather(*(self._run_one(c, permitted, context) for c in calls)))

    async def _run_one(
        self, call: ToolCallRequest, permitted: frozenset[str], context: ToolContext
    ) -> ToolOutcome:
        started = time.perf_counter_ns()
        tool = self._registry.get(call.name) if call.name in permitted else None
        try:
            if tool is None:
                raise ToolError(f"unknown tool {call.name!r}")
            if "__invalid_json__" in call.arguments:
                raise ToolError("arguments were not valid JSON")
            output = await asyncio.wait_for(tool.invoke(call.arguments, context), self._timeout)
            result = ToolResultBlock(call.id, self._cap(output))
        except TimeoutError:
            log.warning("tool %s timed out, session %s", call.name, context.session_key)
            result = ToolResultBlock(call.id, f"error: timed out after {self._timeout:g} s", True)
        except ToolError as exc:
            result = ToolResultBlock(call.id, self._cap(f"error: {exc}"), True)
        except Exception as exc:  # a tool's bug must not end the turn; the model is told
            log.exception("tool %s failed, session %s", call.name, context.session_key)
            result = ToolResultBlock(
                call.id, self._cap(f"error: {type(exc).__name__}: {exc}"), True
            )
        return ToolOutcome(result, call.name, time.perf_counter_ns() - started)

    def _cap(self, output: str) -> str:
        raw = output.encode()
        if len(raw) <= self._output_limit:
            return output
        kept = raw[: self._output_limit].decode(errors="ignore")
        return kept + TRUNCATION_MARKER.format(limit=self._output_limit)


def dumps_stable(value: Any) -> str:
    """Canonical JSON used wherever bytes must not change between turns."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

"""Typed tools: a registry whose definitions are byte-stable, and an executor that never crashes a turn.

Tool definitions are part of the cached prompt prefix, so :meth:`ToolRegistry.specs` returns them in
name order with canonical schemas. Tool names must match ``^[a-zA-Z0-9_-]{1,64}$`` (both model APIs
reject anything else).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agent.errors import ToolError
from agent.messages import ToolResultBlock
from agent.request import ToolCallRequest, ToolSpec

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TRUNCATION_MARKER = "\n[output truncated by Hearth at {limit} bytes]"

InputT = TypeVar("InputT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Tool(Generic[InputT]):
    """A tool the model may call: its input is validated into ``input_model`` before ``run``."""

    name: str
    description: str
    input_model: type[InputT]
    run: Callable[[InputT], Awaitable[str]]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_NAME.pattern}")

    def spec(self) -> ToolSpec:
        """The definition sent to the model."""
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        return ToolSpec(self.name, self.description, schema)

    async def invoke(self, arguments: dict[str, Any]) -> str:
        """Validate ``arguments`` and run the tool."""
        try:
            parsed = self.input_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolError(f"invalid arguments: {problems}") from exc
        return await self.run(parsed)


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """The result block for the model plus what the runtime records about the call."""

    result: ToolResultBlock
    name: str
    duration_ns: int


class ToolRegistry:
    """All tools known to this process; a profile picks the ones its model may see."""

    def __init__(self, tools: Iterable[Tool[Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool[Any]) -> None:
        """Register ``tool``; names are unique."""
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} registered twice")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted(self._tools)

    def specs(self, allowed: Iterable[str]) -> tuple[ToolSpec, ...]:
        """Definitions of the allowed tools that exist, sorted by name (byte-stable)."""
        wanted = set(allowed)
        return tuple(self._tools[n].spec() for n in sorted(self._tools) if n in wanted)

    def get(self, name: str) -> Tool[Any] | None:
        """The tool called ``name``, if registered."""
        return self._tools.get(name)


class ToolExecutor:
    """Runs a model response's tool calls in parallel, each bounded in time and output size."""

    def __init__(self, registry: ToolRegistry, *, timeout: float, output_limit: int) -> None:
        self._registry = registry
        self._timeout = timeout
        self._output_limit = output_limit

    async def run_all(
        self, calls: Sequence[ToolCallRequest], allowed: Iterable[str]
    ) -> list[ToolOutcome]:
        """Run independent calls concurrently; results come back in call order."""
        permitted = frozenset(allowed)
        return list(await asyncio.gather(*(self._run_one(c, permitted) for c in calls)))

    async def _run_one(self, call: ToolCallRequest, permitted: frozenset[str]) -> ToolOutcome:
        started = time.perf_counter_ns()
        tool = self._registry.get(call.name) if call.name in permitted else None
        try:
            if tool is None:
                raise ToolError(f"unknown tool {call.name!r}")
            if "__invalid_json__" in call.arguments:
                raise ToolError("arguments were not valid JSON")
            output = await asyncio.wait_for(tool.invoke(call.arguments), self._timeout)
            result = ToolResultBlock(call.id, self._cap(output))
        except TimeoutError:
            result = ToolResultBlock(call.id, f"error: timed out after {self._timeout:g} s", True)
        except ToolError as exc:
            result = ToolResultBlock(call.id, f"error: {exc}", True)
        except Exception as exc:  # a tool's bug must not end the turn; the model is told
            log.exception("tool %s failed", call.name)
            result = ToolResultBlock(call.id, f"error: {type(exc).__name__}: {exc}", True)
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

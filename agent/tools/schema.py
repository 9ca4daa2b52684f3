"""Tools declared as typed async functions: the input schema comes from the type hints.

::

    async def add_note(text: str, pinned: bool = False, *, context: ToolContext) -> str:
        '''Save a note for this conversation.

        Args:
            text: What to save.
            pinned: Keep it on top.
        '''

    tool = function_tool(add_note)

The docstring's first paragraph becomes the tool's description and its ``Args:`` entries the
parameters' descriptions (Google style). A parameter annotated :class:`ToolContext` is not part of
the schema: the executor passes the call's context into it. ``Annotated[int, Field(ge=1)]`` and
defaults work as in pydantic.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from agent.tools.context import ToolContext
from agent.tools.registry import Tool

ToolFunction = Callable[..., Awaitable[str]]

_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


class _StrictInput(BaseModel):
    # Unknown arguments are an error the model can correct, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


def function_tool(
    fn: ToolFunction, *, name: str | None = None, description: str | None = None
) -> Tool[Any]:
    """Build a :class:`Tool` from a typed async function.

    Args:
        fn: An ``async def`` whose parameters are all annotated and which returns ``str``.
        name: The tool's name (default: the function's name).
        description: The tool's description (default: the docstring's first paragraph).

    Raises:
        TypeError: ``fn`` is not async, or a parameter has no annotation.
    """
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{fn.__qualname__} must be an async function")
    hints = get_type_hints(fn, include_extras=True)
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__}: *args/**kwargs cannot be described to a model")
        if param.name not in hints:
            raise TypeError(f"{fn.__qualname__}: parameter {param.name!r} needs a type annotation")
        hint = hints[param.name]
        if hint is ToolContext:
            context_param = param.name
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hint, Field(default, description=arg_docs.get(param.name)))
    tool_name = name or fn.__name__
    model: type[BaseModel] = create_model(f"{tool_name}_input", __base__=_StrictInput, **fields)

    async def run(args: BaseModel, context: ToolContext) -> str:
        values = {key: getattr(args, key) for key in fields}
        if context_param is not None:
            values[context_param] = context
        return await fn(**values)

    return Tool(
        name=tool_name,
        description=description or summary,
        input_model=model,
        run_in_context=run,
    )


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its first paragraph and its ``Args:`` descriptions.

    Continuation lines (indented deeper than the entries) are joined to their entry with a space.
    """
    lines = doc.splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip():
            break
        summary.append(line.strip())
    args: dict[str, str] = {}
    header = next((i for i, line in enumerate(lines) if _ARGS_HEADER.match(line)), None)
    if header is None:
        return " ".join(summary), args
    entry_indent: int | None = None
    current: str | None = None
    for line in lines[header + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if entry_indent is None:
            entry_indent = indent
        if indent < entry_indent:
            break  # the next section (Returns:, Raises:)
        match = _ARG_LINE.match(line)
        if indent == entry_indent and match:
            current = match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(summary), args

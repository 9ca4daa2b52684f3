"""Allowlists: tool names, labels, groups and ``server.*`` patterns resolve to the tools sent."""

from __future__ import annotations

from typing import Any

import pytest

from agent.request import ToolSpec
from agent.tools.builtins import TOOL_GROUPS
from agent.tools.context import ToolContext
from agent.tools.registry import ToolRegistry


class Named:
    """A minimal tool definition: what an MCP tool looks like to the registry."""

    def __init__(self, name: str, label: str | None = None) -> None:
        self.name = name
        self.label = label or name

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, f"{self.label} tool", {"type": "object", "properties": {}})

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return self.label


def registry() -> ToolRegistry:
    tools = ToolRegistry(
        [Named("time"), Named("remember"), Named("recall"), Named("web_fetch")],
        groups=TOOL_GROUPS,
    )
    for tool in (Named("docs__search", "docs.search"), Named("docs__get_page", "docs.get.page")):
        tools.add(tool)
    tools.add_group("docs", ["docs__search", "docs__get_page"])
    tools.add_group("down", [])  # an MCP server that failed to start
    return tools


@pytest.mark.parametrize(
    ("patterns", "names"),
    [
        (["time"], {"time"}),
        (["time", "memory"], {"time", "remember", "recall"}),  # forget is not registered here
        (["web"], {"web_fetch"}),
        (["reminders"], set()),
        (["docs.*"], {"docs__search", "docs__get_page"}),
        (["docs"], {"docs__search", "docs__get_page"}),
        (["docs.search"], {"docs__search"}),
        (["docs__search"], {"docs__search"}),
        (["docs.get.page"], {"docs__get_page"}),
        (["down.*", "down"], set()),
        (["nothing", "doc.*", "docs.nothing"], set()),
        ([], set()),
    ],
)
def test_patterns_resolve_to_wire_names(patterns: list[str], names: set[str]) -> None:
    assert registry().resolve(patterns) == names


def test_specs_follow_the_allowlist_sorted_by_wire_name() -> None:
    specs = registry().specs(["web", "docs.*", "time"])
    assert [s.name for s in specs] == ["docs__get_page", "docs__search", "time", "web_fetch"]


def test_specs_change_when_a_tool_is_added() -> None:
    tools = registry()
    assert [s.name for s in tools.specs(["memory"])] == ["recall", "remember"]
    tools.add(Named("forget"))
    assert [s.name for s in tools.specs(["memory"])] == ["forget", "recall", "remember"]


@pytest.mark.parametrize(
    ("pattern", "known"),
    [
        ("time", True),
        ("memory", True),
        ("forget", True),  # a built-in whose store is missing: valid, just not offered
        ("set_reminder", True),
        ("docs.search", True),
        ("docs.anything", True),  # a server may add tools later
        ("down.*", True),
        ("down", True),
        ("timee", False),
        ("memroy", False),
        ("nowhere.*", False),
        ("docs.", False),
    ],
)
def test_known_patterns(pattern: str, known: bool) -> None:
    assert registry().knows(pattern) is known


def test_a_name_or_label_registers_once() -> None:
    tools = registry()
    with pytest.raises(ValueError, match="registered twice"):
        tools.add(Named("other", "docs.search"))

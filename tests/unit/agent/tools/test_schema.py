"""Tools declared as typed async functions: schema from the hints, docs from the docstring."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pytest
from pydantic import Field

from agent.errors import ToolError
from agent.tools.context import ToolContext
from agent.tools.registry import ToolRegistry, strip_titles
from agent.tools.schema import function_tool, parse_docstring

CONTEXT = ToolContext("telegram:1:55:", "s1", "telegram", "1", "55", "u7")


async def add_note(
    text: Annotated[str, Field(min_length=1)],
    context: ToolContext,
    tags: list[str] | None = None,
    priority: Literal["low", "high"] = "low",
) -> str:
    """Save a note for this conversation.

    More detail that is not part of the description.

    Args:
        text: What to save,
            on one or more lines.
        tags: Labels to find it by.
        priority: How urgent it is.

    Returns:
        A confirmation.
    """
    return f"{context.user_id} saved {text!r} {tags or []} {priority}"


def test_the_schema_comes_from_the_type_hints_and_the_docstring() -> None:
    spec = function_tool(add_note).spec()
    assert spec.name == "add_note"
    assert spec.description == "Save a note for this conversation."
    schema = spec.input_schema
    assert schema["required"] == ["text"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"text", "tags", "priority"}  # no context parameter
    assert schema["properties"]["text"] == {
        "description": "What to save, on one or more lines.",
        "minLength": 1,
        "type": "string",
    }
    assert schema["properties"]["priority"]["enum"] == ["low", "high"]
    assert schema["properties"]["tags"]["description"] == "Labels to find it by."
    assert '"title"' not in json.dumps(schema)


async def test_the_call_gets_validated_arguments_and_the_context() -> None:
    tool = function_tool(add_note)
    result = await tool.invoke({"text": "milk", "tags": ["shop"]}, CONTEXT)
    assert result == "u7 saved 'milk' ['shop'] low"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "invalid arguments: text: Field required"),
        ({"text": ""}, "invalid arguments: text: String should have at least 1 character"),
        ({"text": "x", "priority": "urgent"}, "invalid arguments: priority: Input should be"),
        ({"text": "x", "color": "red"}, "invalid arguments: color: Extra inputs are not permitted"),
    ],
)
async def test_invalid_arguments_are_explained_to_the_model(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await function_tool(add_note).invoke(arguments, CONTEXT)


def test_name_and_description_can_be_given() -> None:
    tool = function_tool(add_note, name="note", description="Notes.")
    assert (tool.spec().name, tool.spec().description) == ("note", "Notes.")


def test_functions_that_cannot_be_described_are_refused() -> None:
    def not_async(text: str) -> str:
        return text

    async def untyped(text) -> str:  # type: ignore[no-untyped-def]
        return str(text)

    async def star(*texts: str) -> str:
        return ""

    with pytest.raises(TypeError, match="must be an async function"):
        function_tool(not_async)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a type annotation"):
        function_tool(untyped)
    with pytest.raises(TypeError, match=r"\*args"):
        function_tool(star)


def test_definitions_of_function_tools_are_byte_stable() -> None:
    first = ToolRegistry([function_tool(add_note)]).specs(["add_note"])
    second = ToolRegistry([function_tool(add_note)]).specs(["add_note"])
    assert json.dumps(first[0].canonical_schema()) == json.dumps(second[0].canonical_schema())


@pytest.mark.parametrize(
    ("doc", "summary", "args"),
    [
        ("One line.", "One line.", {}),
        ("Two\nlines.\n\nBody.", "Two lines.", {}),
        (
            "Do it.\n\nArgs:\n    a: First.\n    b (int): Second,\n        continued.\n\nRaises:\n"
            "    ValueError: never an argument.",
            "Do it.",
            {"a": "First.", "b": "Second, continued."},
        ),
        ("Do it.\n\nArgs:\n    **extra: More.", "Do it.", {"extra": "More."}),
        ("", "", {}),
    ],
)
def test_google_style_docstrings_are_parsed(doc: str, summary: str, args: dict[str, str]) -> None:
    assert parse_docstring(doc) == (summary, args)


def test_only_title_keywords_are_stripped() -> None:
    schema = {
        "title": "Input",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string"}},
        "$defs": {"Item": {"title": "Item", "anyOf": [{"title": "A", "type": "integer"}]}},
    }
    assert strip_titles(schema) == {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "$defs": {"Item": {"anyOf": [{"type": "integer"}]}},
    }

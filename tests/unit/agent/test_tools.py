"""The tool executor: validation, timeouts, output caps, parallel calls, and stable definitions."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from agent.request import ToolCallRequest
from agent.tools.builtins import time_tool
from agent.tools.registry import Tool, ToolExecutor, ToolRegistry


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class EchoInput(BaseModel):
    text: str
    repeat: int = 1


class SleepInput(BaseModel):
    seconds: float


def registry() -> ToolRegistry:
    async def echo(args: EchoInput) -> str:
        return args.text * args.repeat

    async def sleep(args: SleepInput) -> str:
        await asyncio.sleep(args.seconds)
        return "slept"

    async def broken(args: EchoInput) -> str:
        raise KeyError(args.text)

    return ToolRegistry(
        [
            Tool("echo", "Echo text.", EchoInput, echo),
            Tool("sleep", "Sleep.", SleepInput, sleep),
            Tool("broken", "Always fails.", EchoInput, broken),
            time_tool(FixedClock()),
        ]
    )


ALL = ("echo", "sleep", "broken", "time")


@pytest.mark.parametrize(
    ("call", "content", "is_error"),
    [
        (ToolCallRequest("1", "echo", {"text": "ab", "repeat": 2}), "abab", False),
        (
            ToolCallRequest("2", "echo", {"repeat": "x"}),
            "error: invalid arguments: text: Field required",
            True,
        ),
        (ToolCallRequest("3", "nope", {}), "error: unknown tool 'nope'", True),
        (ToolCallRequest("4", "broken", {"text": "k"}), "error: KeyError: 'k'", True),
        (
            ToolCallRequest("5", "echo", {"__invalid_json__": "{"}),
            "error: arguments were not valid JSON",
            True,
        ),
        (ToolCallRequest("6", "sleep", {"seconds": 5}), "error: timed out after 0.05 s", True),
        (
            ToolCallRequest("7", "time", {"timezone": "Asia/Tokyo"}),
            "2026-11-21T21:00:00+09:00 (Saturday, Asia/Tokyo)",
            False,
        ),
        (
            ToolCallRequest("8", "time", {"timezone": "Mars/Base"}),
            "error: unknown timezone 'Mars/Base'",
            True,
        ),
    ],
)
async def test_every_outcome_becomes_a_result_for_the_model(
    call: ToolCallRequest, content: str, is_error: bool
) -> None:
    executor = ToolExecutor(registry(), timeout=0.05, output_limit=1000)
    [outcome] = await executor.run_all([call], ALL)
    assert outcome.result.content.startswith(content)
    assert outcome.result.is_error is is_error
    assert outcome.result.tool_use_id == call.id


async def test_tools_outside_the_profile_are_refused() -> None:
    executor = ToolExecutor(registry(), timeout=1, output_limit=1000)
    [outcome] = await executor.run_all([ToolCallRequest("1", "echo", {"text": "x"})], ["time"])
    assert outcome.result.is_error and "unknown tool" in outcome.result.content


async def test_long_output_is_truncated_with_a_marker() -> None:
    executor = ToolExecutor(registry(), timeout=1, output_limit=10)
    [outcome] = await executor.run_all([ToolCallRequest("1", "echo", {"text": "é" * 20})], ALL)
    assert outcome.result.content.startswith("ééééé")
    assert outcome.result.content.endswith("[output truncated by Hearth at 10 bytes]")


async def test_independent_calls_run_in_parallel() -> None:
    arrived = 0
    everyone = asyncio.Event()

    async def rendezvous(args: SleepInput) -> str:
        # Completes only if all three calls are running at the same time.
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            everyone.set()
        await everyone.wait()
        return "met"

    tools = ToolRegistry([Tool("meet", "Wait for the others.", SleepInput, rendezvous)])
    executor = ToolExecutor(tools, timeout=5, output_limit=100)
    calls = [ToolCallRequest(str(i), "meet", {"seconds": 0}) for i in range(3)]
    outcomes = await executor.run_all(calls, ["meet"])
    assert [(o.result.tool_use_id, o.result.content) for o in outcomes] == [
        ("0", "met"),
        ("1", "met"),
        ("2", "met"),
    ]


def test_definitions_are_sorted_and_byte_stable() -> None:
    first = registry().specs(["time", "echo"])
    second = registry().specs(["echo", "time", "missing"])
    assert [s.name for s in first] == ["echo", "time"]
    dump = [json.dumps(s.canonical_schema(), sort_keys=True) for s in first]
    assert dump == [json.dumps(s.canonical_schema(), sort_keys=True) for s in second]
    assert "title" not in first[0].input_schema


def test_tool_names_must_be_accepted_by_both_model_apis() -> None:
    async def run(args: EchoInput) -> str:
        return ""

    with pytest.raises(ValueError, match="must match"):
        Tool("server.tool", "dotted names are rejected by the APIs", EchoInput, run)

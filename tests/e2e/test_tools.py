"""The tool loop through the real SDKs and the loopback model fakes (Anthropic and OpenAI).

Parallel calls, a hanging tool cut at its timeout, a 1 MB output cut at the cap: each time the model
gets a result for every call in its next request, and the final answer streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agent.messages import ChatMessage
from agent.request import TextDelta
from agent.responder import Agent, AgentEvent, Finished, ToolFinished, ToolStarted, TurnInput
from agent.routing import CircuitBreaker
from agent.tools.registry import TRUNCATION_MARKER, Tool, ToolExecutor, ToolRegistry
from bot.wiring import build_providers
from config import Profile
from tests.e2e.test_console_session import anthropic_provider, openai_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import RecordedRequest
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply, Text, ToolCall
from tests.harness import settings_for

Fake = FakeAnthropic | FakeOpenAI
MEETING_TIMEOUT_S = 10.0


class Label(BaseModel):
    label: str


class Nothing(BaseModel):
    pass


class Size(BaseModel):
    size: int


@dataclass
class Run:
    """One turn's agent events, and the fake that answered it."""

    fake: Fake
    events: list[AgentEvent]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    def tool_results(self, request_index: int) -> list[tuple[str, str]]:
        """(call id, content) of the tool results sent in a model request."""
        return tool_results(self.fake, self.fake.chat_requests()[request_index])


def tool_results(fake: Fake, request: RecordedRequest) -> list[tuple[str, str]]:
    messages: list[dict[str, Any]] = request.json["messages"]
    if isinstance(fake, FakeAnthropic):
        last = messages[-1]["content"]
        return [(b["tool_use_id"], b["content"]) for b in last if b["type"] == "tool_result"]
    return [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]


@pytest.fixture(params=["anthropic", "openai"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[Fake]:
    server: Fake = FakeAnthropic() if request.param == "anthropic" else FakeOpenAI()
    async with server:
        yield server


async def run_turn(
    tmp_path: Path, fake: Fake, tools: list[Tool[Any]], *, tool_timeout: float = 30.0
) -> Run:
    provider = (
        anthropic_provider(fake) if isinstance(fake, FakeAnthropic) else openai_provider(fake)
    )
    settings = settings_for(tmp_path, provider)
    providers = build_providers(settings)
    registry = ToolRegistry(tools)
    agent = Agent(
        providers,
        settings.models,
        registry,
        ToolExecutor(registry, timeout=tool_timeout, output_limit=settings.tools.output_limit),
        max_tool_rounds=4,
        breaker=CircuitBreaker(settings.models.circuit),
    )
    profile = Profile(tools=[t.name for t in tools])
    turn = TurnInput("conv-1", (), ChatMessage.user_text("go"), profile)
    try:
        return Run(fake, [event async for event in agent.respond(turn)])
    finally:
        for provider_ in providers.values():
            await provider_.aclose()


async def test_two_calls_of_one_response_run_in_parallel_and_both_results_go_back(
    tmp_path: Path, fake: Fake
) -> None:
    log: list[str] = []
    started = 0
    both_started = asyncio.Event()

    async def probe(args: Label) -> str:
        # Each call waits for the other to start: only concurrent calls get past this point.
        nonlocal started
        log.append(f"start {args.label}")
        started += 1
        if started == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), MEETING_TIMEOUT_S)
        log.append(f"end {args.label}")
        return f"probe {args.label} ok"

    fake.script(
        Reply(ToolCall("probe", {"label": "a"}), ToolCall("probe", {"label": "b"})),
        Reply(Text("Both probes are fine.", chunks=4)),
    )
    run = await run_turn(tmp_path, fake, [Tool("probe", "Probe.", Label, probe)])

    assert log[:2] == ["start a", "start b"]  # both started before either ended
    assert sorted(log[2:]) == ["end a", "end b"]
    tools = [e for e in run.events if isinstance(e, ToolStarted | ToolFinished)]
    assert [type(e).__name__ for e in tools] == ["ToolStarted"] * 2 + ["ToolFinished"] * 2
    assert all(e.ok for e in tools if isinstance(e, ToolFinished))
    first_calls = [e.call_id for e in tools if isinstance(e, ToolStarted)]
    assert run.tool_results(1) == [
        (first_calls[0], "probe a ok"),
        (first_calls[1], "probe b ok"),
    ]
    deltas = [e for e in run.events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2 and run.text == "Both probes are fine."  # streamed in pieces
    assert isinstance(run.events[-1], Finished)


async def test_a_hanging_tool_is_cut_at_its_timeout_and_the_model_is_told(
    tmp_path: Path, fake: Fake
) -> None:
    never = asyncio.Event()
    cancelled: list[bool] = []

    async def hang(args: Nothing) -> str:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "unreachable"

    fake.script(Reply(ToolCall("hang", {})), Reply(Text("The tool did not answer in time.")))
    run = await run_turn(tmp_path, fake, [Tool("hang", "Hang.", Nothing, hang)], tool_timeout=0.2)

    [(_, content)] = run.tool_results(1)
    assert content == "error: timed out after 0.2 s"
    assert cancelled == [True]  # the hanging call does not live on
    [finished] = [e for e in run.events if isinstance(e, ToolFinished)]
    assert not finished.ok
    assert run.text == "The tool did not answer in time."


async def test_a_megabyte_of_output_reaches_the_model_cut_with_the_marker(
    tmp_path: Path, fake: Fake
) -> None:
    async def dump(args: Size) -> str:
        return "x" * args.size

    fake.script(Reply(ToolCall("dump", {"size": 1_000_000})), Reply(Text("That was long.")))
    run = await run_turn(tmp_path, fake, [Tool("dump", "Dump.", Size, dump)])

    [(_, content)] = run.tool_results(1)
    limit = 16 * 1024
    assert content == "x" * limit + TRUNCATION_MARKER.format(limit=limit)
    assert run.text == "That was long."


async def test_bad_calls_become_error_results_and_the_turn_goes_on(
    tmp_path: Path, fake: Fake
) -> None:
    async def probe(args: Label) -> str:
        return args.label

    fake.script(
        Reply(
            ToolCall("probe", {"wrong": 1}),
            ToolCall("missing", {}),
            ToolCall("probe", {"label": "fine"}),
        ),
        Reply(Text("Two of three failed.")),
    )
    run = await run_turn(tmp_path, fake, [Tool("probe", "Probe.", Label, probe)])

    contents = [content for _, content in run.tool_results(1)]
    assert contents == [
        "error: invalid arguments: label: Field required",
        "error: unknown tool 'missing'",
        "fine",
    ]
    assert run.text == "Two of three failed."

"""Retries, fallback and the circuit breaker, with the real SDKs against the loopback fakes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.errors import AllModelsFailedError, ProviderError
from agent.messages import ChatMessage
from agent.request import TextDelta
from agent.responder import Agent, Finished, RequestSent, TurnInput
from agent.routing import Backoff, CircuitBreaker
from agent.tools.registry import ToolExecutor, ToolRegistry
from bot.wiring import build_providers
from config import CircuitSettings, Profile, RetrySettings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import ApiError, Reply, Text
from tests.harness import settings_for


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """An Agent over both fakes with tier default = [anthropic:a, openai:b]."""

    def __init__(
        self, tmp_path: Path, anthropic: FakeAnthropic, openai: FakeOpenAI, **models: Any
    ) -> None:
        self.settings = settings_for(
            tmp_path,
            {
                "anthropic": {
                    "kind": "anthropic",
                    "api_key": "k",
                    "base_url": anthropic.url,
                    "max_retries": 0,
                },
                "openai": {
                    "kind": "openai",
                    "api_key": "k",
                    "base_url": f"{openai.url}/v1",
                    "max_retries": 0,
                },
            },
            models={"tiers": {"default": ["anthropic:a", "openai:b"]}, **models},
        )
        self.clock = Ticker()
        self.sleeps: list[float] = []
        self.providers = build_providers(self.settings)
        tools = ToolRegistry()
        self.agent = Agent(
            self.providers,
            self.settings.models,
            tools,
            ToolExecutor(tools, timeout=1, output_limit=100),
            max_tool_rounds=2,
            breaker=CircuitBreaker(self.settings.models.circuit, monotonic=self.clock),
            sleep=self._sleep,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def turn(self) -> tuple[str, Finished, list[RequestSent]]:
        text: list[str] = []
        sent: list[RequestSent] = []
        finished: Finished | None = None
        turn = TurnInput("conv", (), ChatMessage.user_text("hi"), Profile(tools=[]))
        async for event in self.agent.respond(turn):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, RequestSent):
                sent.append(event)
            elif isinstance(event, Finished):
                finished = event
        assert finished is not None
        return "".join(text), finished, sent

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeAnthropic, FakeOpenAI]]:
    async with FakeAnthropic() as anthropic, FakeOpenAI() as openai:
        yield anthropic, openai


async def test_429_with_retry_after_is_retried_on_the_same_model(
    tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI]
) -> None:
    anthropic, openai = fakes
    anthropic.script(ApiError(429, "rate_limit_error", retry_after=2), Reply(Text("ok")))
    harness = Harness(tmp_path, anthropic, openai)
    text, _finished, sent = await harness.turn()
    await harness.aclose()
    assert text == "ok"
    assert harness.sleeps == [2.0]  # exactly what the provider asked for
    assert [s.model for s in sent] == ["anthropic:a", "anthropic:a"]
    assert len(openai.chat_requests()) == 0


async def test_a_retry_after_beyond_the_cap_moves_to_the_next_model(
    tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI]
) -> None:
    anthropic, openai = fakes
    anthropic.script(ApiError(429, "rate_limit_error", retry_after=120))
    harness = Harness(tmp_path, anthropic, openai, retry={"retry_after_cap": "10s"})
    text, _finished, sent = await harness.turn()
    await harness.aclose()
    assert text.startswith("echo")
    assert harness.sleeps == []
    assert [(s.model, s.fallback) for s in sent] == [("anthropic:a", False), ("openai:b", True)]


async def test_three_529s_then_the_next_model_answers(
    tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI]
) -> None:
    anthropic, openai = fakes
    anthropic.script(*[ApiError(529, "overloaded_error")] * 3)
    openai.script(Reply(Text("from b")))
    harness = Harness(tmp_path, anthropic, openai, retry={"attempts": 3, "base_delay": "100ms"})
    text, _finished, sent = await harness.turn()
    await harness.aclose()
    assert text == "from b"
    assert [s.model for s in sent] == ["anthropic:a"] * 3 + ["openai:b"]
    assert len(harness.sleeps) == 2
    assert 0 <= harness.sleeps[0] <= 0.1 and 0 <= harness.sleeps[1] <= 0.2  # full jitter bounds


@pytest.mark.parametrize("status", [401, 403, 400])
async def test_non_retryable_errors_go_straight_to_the_next_model(
    tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI], status: int
) -> None:
    anthropic, openai = fakes
    kind = {401: "authentication_error", 403: "permission_error", 400: "invalid_request_error"}
    anthropic.script(ApiError(status, kind[status]))
    harness = Harness(tmp_path, anthropic, openai)
    _text, _finished, sent = await harness.turn()
    await harness.aclose()
    assert [s.model for s in sent] == ["anthropic:a", "openai:b"]
    assert harness.sleeps == []


async def test_an_open_circuit_skips_its_model_and_probes_once_after_the_cooldown(
    tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI]
) -> None:
    anthropic, openai = fakes
    anthropic.script(ApiError(500), ApiError(500))
    harness = Harness(
        tmp_path,
        anthropic,
        openai,
        retry={"attempts": 1},
        circuit={"failures": 2, "cooldown": "30s"},
    )
    for _ in range(2):  # two failures open the circuit
        await harness.turn()
    assert len(anthropic.chat_requests()) == 2
    _text, _finished, sent = await harness.turn()  # skipped: no request to anthropic
    assert [s.model for s in sent] == ["openai:b"]
    assert len(anthropic.chat_requests()) == 2
    harness.clock.now += 31
    anthropic.script(Reply(Text("recovered")))
    text, _finished, sent = await harness.turn()  # the probe
    assert (text, [s.model for s in sent]) == ("recovered", ["anthropic:a"])
    text, _finished, _sent = await harness.turn()  # closed again
    await harness.aclose()
    assert len(anthropic.chat_requests()) == 4


async def test_every_model_failing_raises_with_each_attempt(
    tmp_path: Path, fakes: tuple[FakeAnthropic, FakeOpenAI]
) -> None:
    anthropic, openai = fakes
    anthropic.script(ApiError(401, "authentication_error"))
    openai.script(ApiError(503))
    harness = Harness(tmp_path, anthropic, openai, retry={"attempts": 1})
    with pytest.raises(AllModelsFailedError) as caught:
        await harness.turn()
    await harness.aclose()
    assert [(m, e.kind) for m, e in caught.value.attempts] == [
        ("anthropic:a", "auth"),
        ("openai:b", "server"),
    ]


def test_backoff_policy() -> None:
    backoff = Backoff(
        RetrySettings(attempts=4, base_delay=timedelta(seconds=1), max_delay=timedelta(seconds=3)),
        random.Random(7),
    )
    retryable = ProviderError("x", kind="server", retryable=True)
    delays = [backoff.delay(n, retryable) for n in range(4)]
    assert delays[3] is None  # out of attempts
    assert all(d is not None and 0 <= d <= min(3, 2**n) for n, d in enumerate(delays[:3]))
    assert backoff.delay(0, ProviderError("x", kind="auth", retryable=False)) is None


def test_a_failed_probe_reopens_the_circuit() -> None:
    clock = Ticker()
    breaker = CircuitBreaker(
        CircuitSettings(failures=1, cooldown=timedelta(seconds=10)), monotonic=clock
    )
    breaker.failed("m")
    assert not breaker.allow("m")
    clock.now += 11
    assert breaker.allow("m")
    assert not breaker.allow("m")  # one probe at a time
    breaker.failed("m")
    assert not breaker.allow("m")
    clock.now += 11
    assert breaker.allow("m")
    breaker.succeeded("m")
    assert breaker.allow("m") and breaker.allow("m")

"""The simulated provider (tests/fakes/latency.py) driven by the real ``anthropic`` and ``openai``
SDKs: a cache hit must make the simulated first token come sooner, and every call is recorded
with the tag that matches it to a turn."""

from __future__ import annotations

import math
import time

import anthropic
import openai
import pytest
from anthropic.types import MessageParam

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.latency import LatencyModel, SimulatedCall, SimulatedLatency
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply, Text

# Fast enough for a unit test, distinct enough that every term shows in the result.
MODEL = LatencyModel(
    base_s=0.002, prefill_s_per_token=1e-6, cached_s_per_token=1e-7, output_tokens_per_s=1e5
)
STABLE = "You are a careful assistant. " * 200  # ~1,450 tokens: above every cache minimum


@pytest.mark.parametrize(
    ("uncached", "cached", "expected"),
    [(0, 0, 0.002), (1000, 0, 0.003), (0, 1000, 0.0021), (500, 2000, 0.0027)],
)
def test_first_token_time_is_base_plus_prefill_plus_cache_reads(
    uncached: int, cached: int, expected: float
) -> None:
    assert math.isclose(MODEL.first_token_s(uncached, cached), expected, rel_tol=1e-9)


def test_output_rate_paces_deltas_and_scaling_keeps_proportions() -> None:
    assert MODEL.delta_s(10) == pytest.approx(1e-4)
    assert LatencyModel().delta_s(10) == 0.0  # no rate: no pause
    faster = MODEL.scaled(0.1)
    assert faster.first_token_s(1000, 1000) == pytest.approx(MODEL.first_token_s(1000, 1000) / 10)
    assert faster.delta_s(10) == pytest.approx(MODEL.delta_s(10) / 10)


def test_a_negative_parameter_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="prefill_s_per_token"):
        LatencyModel(prefill_s_per_token=-1)


def anthropic_messages(question: str) -> list[MessageParam]:
    return [{"role": "user", "content": [{"type": "text", "text": question}]}]


async def test_anthropic_cache_hit_shortens_the_simulated_first_token() -> None:
    async with FakeAnthropic() as fake:
        fake.latency = SimulatedLatency(MODEL)
        fake.script(Reply(Text("first answer, in deltas", chunks=4)), Reply(Text("second")))
        async with anthropic.AsyncAnthropic(
            api_key="x", base_url=fake.url, max_retries=0
        ) as client:
            for question in ("[t1#1] hello", "[t1#2] and again"):
                system = [{"type": "text", "text": STABLE, "cache_control": {"type": "ephemeral"}}]
                async with client.messages.stream(
                    model="claude-fake",
                    max_tokens=64,
                    system=system,  # type: ignore[arg-type]
                    messages=anthropic_messages(question),
                ) as stream:
                    text = await stream.get_final_text()
                    assert text
    first, second = fake.latency.take_calls()
    assert [first.label, second.label] == ["[t1#1]", "[t1#2]"]
    assert first.cached_tokens == 0 and second.cached_tokens > 1000  # the system block was read
    assert second.uncached_tokens < first.uncached_tokens
    assert second.first_token_s < first.first_token_s
    assert first.first_token_s == pytest.approx(
        MODEL.first_token_s(first.uncached_tokens, first.cached_tokens)
    )
    assert second.until_ns > first.until_ns  # one monotonic clock across calls
    assert fake.latency.take_calls() == []  # taking empties the record


async def test_openai_cached_prefix_shortens_the_simulated_first_token() -> None:
    async with FakeOpenAI() as fake:
        fake.latency = SimulatedLatency(MODEL)
        async with openai.AsyncOpenAI(
            api_key="x", base_url=f"{fake.url}/v1", max_retries=0
        ) as client:
            for question in ("[o1#1] hello", "[o1#2] again"):
                stream = await client.chat.completions.create(
                    model="gpt-fake",
                    messages=[
                        {"role": "system", "content": STABLE},
                        {"role": "user", "content": question},
                    ],
                    stream=True,
                )
                chunks = [chunk async for chunk in stream]
                assert chunks
    calls: list[SimulatedCall] = fake.latency.take_calls()
    assert [c.label for c in calls] == ["[o1#1]", "[o1#2]"]
    assert calls[0].cached_tokens == 0 and calls[1].cached_tokens >= 1024
    assert calls[1].first_token_s < calls[0].first_token_s


async def test_anthropic_headers_and_message_start_come_before_the_first_token_wait() -> None:
    # As from the API: the response opens at once, the content comes after the prefill.
    slow = LatencyModel(base_s=0.2)
    async with FakeAnthropic() as fake:
        fake.latency = SimulatedLatency(slow)
        fake.script(Reply(Text("[h1#1] answer", chunks=2)))
        async with (
            anthropic.AsyncAnthropic(api_key="x", base_url=fake.url, max_retries=0) as client,
            client.messages.with_streaming_response.create(
                model="claude-fake",
                max_tokens=64,
                messages=anthropic_messages("[h1#1] hello"),
                stream=True,
            ) as response,
        ):
            opened_ns = time.perf_counter_ns()
            lines = response.iter_lines()
            first_line = await anext(lines)
            first_event_ns = time.perf_counter_ns()
            rest = [line async for line in lines]
    (call,) = fake.latency.take_calls()
    assert first_line == "event: message_start"
    assert opened_ns < first_event_ns < call.until_ns  # both before the wait ended
    assert call.emitted_ns >= call.until_ns  # the first delta after it
    assert any("text_delta" in line for line in rest)


async def test_openai_headers_come_before_the_first_token_wait() -> None:
    slow = LatencyModel(base_s=0.2)
    async with FakeOpenAI() as fake:
        fake.latency = SimulatedLatency(slow)
        async with (
            openai.AsyncOpenAI(api_key="x", base_url=f"{fake.url}/v1", max_retries=0) as client,
            client.chat.completions.with_streaming_response.create(
                model="gpt-fake",
                messages=[{"role": "user", "content": "[o2#1] hello"}],
                stream=True,
            ) as response,
        ):
            opened_ns = time.perf_counter_ns()
            lines = [line async for line in response.iter_lines() if line]
    (call,) = fake.latency.take_calls()
    assert opened_ns < call.until_ns <= call.emitted_ns
    assert lines[-1] == "data: [DONE]"

"""The model fake's own process (bench/model_server.py): when a request counts as arrived.

The provider's share of a turn's TTFT starts when the fake's process has read the first bytes of
the request: after everything the client did, before anything the fake's HTTP server does.
"""

from __future__ import annotations

import time

import anthropic

from bench.model_server import model_server
from tests.fakes.latency import LatencyModel


async def test_a_call_arrives_after_it_was_sent_and_before_its_first_token() -> None:
    async with model_server(LatencyModel(base_s=0.05), reply_chars=64, delta_chars=16) as fake:
        async with anthropic.AsyncAnthropic(
            api_key="x", base_url=fake.anthropic_url, max_retries=0
        ) as client:
            sent = []
            for turn in (1, 2):  # the second rides the kept-alive connection
                sent.append(time.perf_counter_ns())
                text = ""
                async with client.messages.stream(
                    model="claude-bench",
                    max_tokens=64,
                    messages=[{"role": "user", "content": f"[m1#{turn}] " + "word " * 2000}],
                ) as stream:
                    text = await stream.get_final_text()
                assert text
        calls = sorted(await fake.calls(), key=lambda c: c.arrived_ns)
    assert [c.simulated.label for c in calls] == ["[m1#1]", "[m1#2]"]
    for call, started in zip(calls, sent, strict=True):
        assert started < call.arrived_ns < call.simulated.until_ns <= call.first_token_ns
        assert call.held_ns >= 50_000_000  # at least the simulated wait

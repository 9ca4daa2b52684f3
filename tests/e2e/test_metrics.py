"""``/metrics`` after real turns: the console channel, the Anthropic SDK and its loopback fake,
and the HTTP server scraped over a real socket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bot.http import HttpServer, OpsEndpoints
from bot.runtime import Runtime
from bot.stats import SEGMENTS
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import ApiError, Reply, Text
from tests.harness import console_chat, settings_for, stored_turns, wait_until


@contextlib.asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """The runtime's ``/readyz`` and ``/metrics`` on a loopback port; yields the base URL."""
    ops = OpsEndpoints()
    ops.attach(runtime.health, runtime.metrics)
    async with HttpServer("127.0.0.1", 0, ops.routes()) as http:
        yield f"http://127.0.0.1:{http.port}"


async def settled(runtime: Runtime) -> None:
    """Wait until no turn runs: a reply is printed before its turn is stored and counted."""
    await wait_until(lambda: runtime.active_lanes == 0)


async def scrape(base: str) -> list[Sample]:
    async with aiohttp.ClientSession() as client, client.get(f"{base}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_ttft_histogram_counts_equal_the_stored_turns(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        settings = settings_for(tmp_path, anthropic_provider(fake))
        fake.script(*(Reply(Text(f"Answer {n}.")) for n in range(3)))
        async with console_chat(settings) as chat, serving(chat.runtime) as base:
            for text in ("hi", "and again", "once more"):
                await chat.say(text)
            await settled(chat.runtime)
            samples = await scrape(base)

    turns = await stored_turns(settings)
    assert len(turns) == 3 and all(t.segments is not None for t in turns)
    assert value(samples, "hearth_ttft_seconds_count") == len(turns)
    assert (
        value(samples, "hearth_ttft_seconds_count", channel="console", model="anthropic:test-model")
        == 3
    )
    for segment in SEGMENTS:
        assert value(samples, "hearth_ttft_segment_seconds_count", segment=segment) == 3
    # The histogram sum is the stored TTFTs, to the nanosecond rounding of float seconds.
    stored = sum(t.segments.ttft for t in turns if t.segments is not None) / 1e9
    assert abs(value(samples, "hearth_ttft_seconds_sum") - stored) < 1e-6
    assert value(samples, "hearth_turns_total", status="ok") == 3
    for kind, field in (("input", "input_tokens"), ("cache_read", "cache_read_tokens")):
        expected = sum(getattr(t.usage, field) for t in turns)
        assert value(samples, "hearth_tokens_total", kind=kind) == expected
    assert value(samples, "hearth_tokens_total", kind="cache_read") > 0  # turns 2 and 3 hit
    assert value(samples, "hearth_warm_sessions") == 1
    assert value(samples, "hearth_active_lanes") == 0
    assert value(samples, "hearth_queue_depth") == 0
    assert value(samples, "hearth_channel_connected", channel="console") == 1
    assert value(samples, "hearth_channel_reconnects_total", channel="console") == 0
    assert value(samples, "hearth_ready") == 1


async def test_failed_turns_are_counted_by_error_kind_and_status(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        settings = settings_for(tmp_path, anthropic_provider(fake))
        fake.script(ApiError(401, "authentication_error"), Reply(Text("Back.")))
        async with console_chat(settings) as chat, serving(chat.runtime) as base:
            refused = await chat.say("hi")
            await chat.say("again")
            await settled(chat.runtime)
            samples = await scrape(base)

    assert "credentials were refused" in refused
    assert value(samples, "hearth_errors_total", kind="auth") == 1
    assert value(samples, "hearth_turns_total", status="failed") == 1
    assert value(samples, "hearth_turns_total", status="ok") == 1
    # Only the answered turn showed text, so only it has a TTFT.
    assert value(samples, "hearth_ttft_seconds_count") == 1
    assert len(await stored_turns(settings)) == 2


async def test_each_runtime_has_its_own_registry(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        fake.script(Reply(Text("One.")))
        first = settings_for(tmp_path / "a", anthropic_provider(fake))
        second = settings_for(tmp_path / "b", anthropic_provider(fake))
        async with console_chat(first) as one, console_chat(second) as two:
            await one.say("hi")
            await settled(one.runtime)
            async with serving(one.runtime) as base_one, serving(two.runtime) as base_two:
                assert value(await scrape(base_one), "hearth_ttft_seconds_count") == 1
                assert value(await scrape(base_two), "hearth_ttft_seconds_count") == 0

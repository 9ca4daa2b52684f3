"""Item 2: warm vs cold vs a naive baseline over a 20-turn conversation.

For every turn: the share of the prompt's input tokens read from the provider's cache, and the
simulated time to first token that follows from it (the model fake charges prefill time for every
uncached token, see tests/fakes/latency.py).

* **warm**: Hearth as configured, the session stays in memory between turns.
* **cold**: Hearth with every session evicted before each turn (``pool.evict_idle`` with a 1 ms
  idle TTL), so turn 2+ restores the session from the store; the provider's cache is still warm,
  as it is when Hearth's idle TTL is shorter than the provider's cache TTL.
* **naive**: the same conversation with the volatile data (time, chat metadata) at the front of
  the system block (bench/prompts.py ``naive_request``), sent through the same provider class;
  the anti-pattern of DESIGN.md §1.
* **warm, OpenAI**: Hearth on the OpenAI Chat Completions fake (automatic prefix caching:
  1,024-token minimum, 128-token steps, ``prompt_cache_key`` per session).

``python -m bench.cache_share [--turns 20] [--conversations 3] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.clock import SystemClock
from agent.messages import ChatMessage, TextBlock
from agent.providers.anthropic import AnthropicProvider
from agent.request import ResponseDone, TextDelta, ToolSpec
from agent.tools.web_fetch import WebFetcher
from bench.channel import BenchChannel
from bench.model_server import ModelServer, model_server
from bench.prompts import naive_request, question
from bench.results import RESULTS, Run, table
from bench.service import (
    MODEL,
    TurnSample,
    bench_settings,
    join,
    running,
    session_threads,
    stored_turns,
    tag,
)
from bench.summary import ms
from bot.reminders import ReminderService
from bot.store.memories import SqliteMemories
from bot.store.reminders import SqliteReminders
from bot.wiring import build_tools, open_store
from config import Settings
from tests.fakes.latency import LatencyModel

# Time to first token matters here, not the answer's length: stream the answer quickly.
LATENCY = LatencyModel(base_s=0.3, prefill_s_per_token=0.00005, output_tokens_per_s=2000.0)
REPLY_CHARS = 480
VARIANTS = ("warm", "cold", "naive", "warm_openai")


async def hearth_conversations(
    fake: ModelServer, *, turns: int, conversations: int, cold: bool, provider: str = "anthropic"
) -> list[TurnSample]:
    """``conversations`` threads of ``turns`` turns each, through the whole service."""
    names = [f"c{i}" for i in range(conversations)]
    url = fake.anthropic_url if provider == "anthropic" else fake.openai_url
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        sessions: dict[str, Any] = {"idle_ttl": "1ms"} if cold else {}
        settings = bench_settings(Path(tmp), url, provider=provider, sessions=sessions)
        channel = BenchChannel()
        received: dict[tuple[str, int], int] = {}
        async with running(settings, channel) as runtime:

            async def converse(thread: str) -> None:
                for turn in range(1, turns + 1):
                    if cold:
                        await asyncio.sleep(0.002)  # past the 1 ms idle TTL
                        runtime.pool.evict_idle()
                    outcome = await channel.ask(thread, question(tag(thread, turn)))
                    received[(thread, turn)] = outcome.received_ns

            await asyncio.gather(*(converse(name) for name in names))
            calls = await fake.calls()
        stored = await stored_turns(settings)
        mapping = await session_threads(settings, channel, names)
    return join(stored, calls, mapping, received)


async def tool_specs(settings: Settings) -> tuple[ToolSpec, ...]:
    """The tool definitions the default profile sends, built as the composition root builds them."""
    clock = SystemClock()
    profile = settings.agent.profiles["default"]
    async with open_store(settings) as store:
        fetcher = WebFetcher(settings.tools.web_fetch)
        try:
            reminders = ReminderService(SqliteReminders(store), {}, clock, settings.tools.reminders)
            tools = build_tools(
                clock, memories=SqliteMemories(store), reminders=reminders, fetcher=fetcher
            )
            return tools.specs(profile.tools)
        finally:
            await fetcher.aclose()


async def naive_conversations(
    fake: ModelServer, *, turns: int, conversations: int
) -> list[dict[str, Any]]:
    """The same conversations with the naive prompt, through Hearth's Anthropic provider."""
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        settings = bench_settings(Path(tmp), fake.anthropic_url)
        specs = await tool_specs(settings)
    profile = settings.agent.profiles["default"]
    provider = AnthropicProvider("anthropic", settings.models.providers["anthropic"])
    rows: list[dict[str, Any]] = []

    async def converse(thread: str) -> None:
        clock = TurnClock()
        transcript: list[ChatMessage] = []
        for turn in range(1, turns + 1):
            text = question(tag(thread, turn))
            request = naive_request(
                model=MODEL,
                instructions=profile.instructions,
                tools=specs,
                transcript=transcript,
                text=text,
                now=clock.now(),
                context={"channel": "telegram", "author": f"u{thread}"},
                cache_key=thread,
                cache_ttl=settings.models.cache_ttl,
                max_output_tokens=settings.models.max_output_tokens,
            )
            answer: list[str] = []
            started = time.perf_counter_ns()
            first: int | None = None
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    first = first or time.perf_counter_ns()
                    answer.append(event.text)
                elif isinstance(event, ResponseDone):
                    usage = event.usage
            transcript += [
                ChatMessage.user_text(text),
                ChatMessage("assistant", (TextBlock("".join(answer)),)),
            ]
            rows.append(
                {
                    "thread": thread,
                    "turn": turn,
                    "share": usage.cache_read_share,
                    "provider_ttft_ms": ms((first or started) - started),
                }
            )

    try:
        await asyncio.gather(*(converse(f"n{i}") for i in range(conversations)))
        calls = await fake.calls()
    finally:
        await provider.aclose()
    simulated = {c.simulated.label: c.simulated.first_token_s * 1000 for c in calls}
    for row in rows:
        row["simulated_ms"] = simulated.get(f"[{tag(row['thread'], row['turn'])}]")
    return rows


class TurnClock:
    """The naive conversation's clock: a person writes about once a minute.

    (The benchmark itself sends the next message at once; with the real clock two turns in the
    same second would carry the same timestamp and hit the cache by accident.)
    """

    def __init__(self) -> None:
        self._now = datetime.now(UTC)

    def now(self) -> datetime:
        """A minute later than the last reading."""
        self._now += timedelta(minutes=1)
        return self._now


def per_turn(samples: Sequence[TurnSample], turns: int) -> list[dict[str, Any]]:
    """Medians over the conversations, by turn."""
    out = []
    for turn in range(1, turns + 1):
        mine = [s for s in samples if s.ordinal == turn]
        out.append(
            {
                "turn": turn,
                "n": len(mine),
                "warm_sessions": sum(s.warm for s in mine),
                "share": _median([s.cache_share for s in mine]),
                "simulated_ms": _median([ms(s.simulated) for s in mine]),
                "ttft_ms": _median([ms(s.ttft) for s in mine]),
                "session_ms": _median([ms(s.session) for s in mine]),
                "input_tokens": _median([float(s.input_tokens) for s in mine]),
            }
        )
    return out


def naive_per_turn(rows: Sequence[dict[str, Any]], turns: int) -> list[dict[str, Any]]:
    """Medians over the naive conversations, by turn."""
    out = []
    for turn in range(1, turns + 1):
        mine = [r for r in rows if r["turn"] == turn]
        out.append(
            {
                "turn": turn,
                "n": len(mine),
                "share": _median([r["share"] for r in mine]),
                "simulated_ms": _median([r["simulated_ms"] for r in mine if r["simulated_ms"]]),
                "provider_ttft_ms": _median([r["provider_ttft_ms"] for r in mine]),
            }
        )
    return out


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def markdown(data: dict[str, list[dict[str, Any]]]) -> str:
    """One row per turn: cache-read share, simulated and measured TTFT for each variant."""
    rows = []
    for i, warm in enumerate(data["warm"]):
        cold, naive, openai = data["cold"][i], data["naive"][i], data["warm_openai"][i]
        rows.append(
            [
                warm["turn"],
                _num(warm["input_tokens"]),
                f"**{_pct(warm['share'])}**",
                _pct(cold["share"]),
                f"**{_pct(naive['share'])}**",
                _pct(openai["share"]),
                _num(warm["simulated_ms"]),
                _num(cold["simulated_ms"]),
                _num(naive["simulated_ms"]),
                _num(warm["ttft_ms"]),
                _num(cold["ttft_ms"]),
                f"{warm['session_ms']:.2f}" if warm["session_ms"] is not None else "n/a",
                f"{cold['session_ms']:.2f}" if cold["session_ms"] is not None else "n/a",
            ]
        )
    return table(
        [
            "turn",
            "prompt tokens",
            "cache share: warm",
            "cold",
            "naive",
            "warm, OpenAI",
            "simulated TTFT ms: warm",
            "cold",
            "naive",
            "measured TTFT ms: warm",
            "cold",
            "session segment ms: warm",
            "cold",
        ],
        rows,
    )


async def run(
    turns: int, conversations: int, latency: LatencyModel = LATENCY
) -> dict[str, list[dict[str, Any]]]:
    """The four variants, each against a fresh model fake process (an empty provider cache)."""
    n = conversations
    data: dict[str, list[dict[str, Any]]] = {}
    async with model_server(latency, reply_chars=REPLY_CHARS) as fake:
        warm = await hearth_conversations(fake, turns=turns, conversations=n, cold=False)
    async with model_server(latency, reply_chars=REPLY_CHARS) as fake:
        cold = await hearth_conversations(fake, turns=turns, conversations=n, cold=True)
    async with model_server(latency, reply_chars=REPLY_CHARS) as fake:
        naive = await naive_conversations(fake, turns=turns, conversations=n)
    async with model_server(latency, reply_chars=REPLY_CHARS) as fake:
        openai = await hearth_conversations(
            fake, turns=turns, conversations=n, cold=False, provider="openai"
        )
    data["warm"], data["cold"] = per_turn(warm, turns), per_turn(cold, turns)
    data["naive"], data["warm_openai"] = naive_per_turn(naive, turns), per_turn(openai, turns)
    return data


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark and write ``cache_share.json`` / ``cache_share.md``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=3, help="per variant, in parallel")
    parser.add_argument("--quick", action="store_true", help="3 turns, 1 conversation: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    latency = LATENCY
    if args.quick:
        args.turns, args.conversations, latency = 3, 1, LATENCY.scaled(0.1)
    options = {"turns": args.turns, "conversations": args.conversations} | {
        "latency": asdict(latency)
    }
    record = Run.begin("cache_share", options)
    data = asyncio.run(run(args.turns, args.conversations, latency))
    note = (
        "\nCache share = cache-read input tokens / all input tokens of the turn's request; "
        "median over the conversations. Simulated TTFT = 300 ms + 50 µs per uncached input "
        "token. Measured TTFT is Hearth's own received → first visible.\n"
    )
    return record.finish({"turns": data}, markdown(data) + note, args.out)


if __name__ == "__main__":
    main()

"""Item 1: Hearth's own overhead on the hot path, warm sessions, at 1, 100 and 1,000 threads.

Overhead = TTFT (received → first visible, Hearth's own timeline) minus the time the request
spent at the simulated provider (from the model fake's handler start to the end of its simulated
first-token wait). It is split by the timeline's segments: ``queue`` (pipeline + lane),
``session`` (warm lookup), ``prepare`` (prompt and route), the ``model`` segment's two halves
around the provider (request → provider: SDK request and loopback; provider → first token: the
first events back through the SDK) and ``deliver`` (reply stream).

"N concurrent threads": N conversations with a warm session each, all open at the same time, each
a closed loop: the user sends a message, waits for the complete answer, takes a think time and
sends the next. Two paces:

* **conversational**: think times are exponential with a mean of 20 s (a brisk chat, three
  messages a minute per thread), so 1,000 threads offer about 45 turns/s;
* **back-to-back** (stress): 0.1 s after each answer, so nearly N turns are in flight at every
  moment; with N = 1 this is the uncontended hot path.

Every session is warmed by one turn first; the turns measured are turn 2 onwards. Threads start
staggered so they do not move in lock-step. The model fake runs in its own process
(:mod:`bench.model_server`) with :data:`bench.service.REALISTIC` timing; the runtime and the
benchmark channel run in this one.

``python -m bench.overhead [--threads 1 100 1000] [--seconds 24] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.channel import BenchChannel
from bench.model_server import ModelServer, model_server
from bench.prompts import question
from bench.results import RESULTS, Run, table
from bench.service import (
    REALISTIC,
    Stopwatch,
    TurnSample,
    bench_settings,
    cpu_seconds,
    join,
    running,
    session_threads,
    stored_turns,
    tag,
    wait_until,
)
from bench.summary import Summary, ms
from tests.fakes.latency import LatencyModel

REPLY_CHARS = 480
DELTA_CHARS = 16
READING_S = 0.1
"""The shortest pause between an answer and the next message (the user reads)."""
CONVERSATIONAL_THINK_S = 20.0
SETTLE_S = 120.0
SEGMENTS = ("queue", "session", "prepare", "to_provider", "from_provider", "deliver")


@dataclass(frozen=True)
class Pace:
    """How a phase's users write: a mean think time (0: back-to-back) for ``seconds``."""

    name: str
    think_s: float
    seconds: float
    min_turns: int = 0

    def pause(self, rng: random.Random) -> float:
        """Seconds between an answer and the next message."""
        return READING_S + (rng.expovariate(1 / self.think_s) if self.think_s > 0 else 0.0)


def turn_seconds(latency: LatencyModel, reply_chars: int = REPLY_CHARS) -> float:
    """About how long one turn takes with this provider timing (for staggering the threads)."""
    return latency.base_s + 3000 * latency.prefill_s_per_token + latency.delta_s(reply_chars // 4)


@dataclass
class PhaseRun:
    """What one phase did: its turns by (thread, turn), wall and CPU time."""

    pace: Pace
    received: dict[tuple[str, int], int]
    wall: float = 0.0
    cpu: float = 0.0
    fake_cpu: float = 0.0


async def run_phase(
    channel: BenchChannel,
    next_turn: dict[str, int],
    pace: Pace,
    rng: random.Random,
    spread: float,
) -> PhaseRun:
    """Every thread of ``next_turn`` converses at ``pace``; each starts within ``spread`` s."""
    phase = PhaseRun(pace, {})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + pace.seconds

    async def converse(thread: str, offset: float) -> None:
        await asyncio.sleep(offset)
        while loop.time() < deadline or len(phase.received) < pace.min_turns:
            turn = next_turn[thread]
            next_turn[thread] += 1
            outcome = await channel.ask(thread, question(tag(thread, turn)))
            phase.received[(thread, turn)] = outcome.received_ns
            pause = pace.pause(rng)
            if len(phase.received) >= pace.min_turns:
                pause = min(pause, max(0.0, deadline - loop.time()))
            await asyncio.sleep(pause)

    await asyncio.gather(*(converse(t, rng.uniform(0, spread)) for t in next_turn))
    return phase


async def measure(
    fake: ModelServer,
    threads: int,
    paces: Sequence[Pace],
    *,
    latency: LatencyModel,
    seed: int = 1,
    platform: str = "telegram",
    during: Callable[[], contextlib.AbstractAsyncContextManager[object]] | None = None,
) -> list[dict[str, Any]]:
    """``threads`` warm conversations, measured at each pace in turn (one row per pace).

    ``during`` wraps every measured phase (a profiler).
    """
    rng = random.Random(seed)
    names = [f"t{i}" for i in range(threads)]
    next_turn = dict.fromkeys(names, 2)
    runs: list[PhaseRun] = []
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        settings = bench_settings(
            Path(tmp), fake.anthropic_url, platform=platform, max_concurrent_turns=max(32, threads)
        )
        channel = BenchChannel(name=platform)
        async with running(settings, channel) as runtime:
            await asyncio.gather(*(channel.ask(t, question(tag(t, 1))) for t in names))
            for pace in paces:
                # Answers are complete before their turns are stored: start each phase once the
                # previous work has settled, so that no phase measures another's tail.
                await wait_until(lambda: runtime.active_lanes == 0, SETTLE_S)
                fake_cpu = cpu_seconds(fake.pid)
                watch = Stopwatch()
                async with during() if during is not None else contextlib.nullcontext():
                    phase = await run_phase(
                        channel, next_turn, pace, rng, pace.think_s or turn_seconds(latency)
                    )
                phase.wall, phase.cpu = watch.elapsed()
                phase.fake_cpu = cpu_seconds(fake.pid) - fake_cpu
                runs.append(phase)
            calls = await fake.calls()
            notices = channel.notices
        turns = await stored_turns(settings)
        mapping = await session_threads(settings, channel, names)
    received = {key: stamp for run in runs for key, stamp in run.received.items()}
    by_key = {(s.thread, s.ordinal): s for s in join(turns, calls, mapping, received)}
    failed = notices + sum(1 for t in turns if t.status != "ok")
    rows = []
    for run in runs:
        samples = [by_key[key] for key in run.received if key in by_key]
        rows.append(summarise(threads, run, samples) | {"failed_or_refused": failed})
    return rows


def summarise(threads: int, run: PhaseRun, samples: list[TurnSample]) -> dict[str, Any]:
    """The row of one thread count and pace (all times in ms)."""
    warm = [s for s in samples if s.warm]
    segments = {
        name: Summary.of([ms(v) for s in warm if (v := getattr(s, name)) is not None]).as_dict()
        for name in SEGMENTS
    }
    turns = len(run.received)
    wall = run.wall or 1.0
    return {
        "threads": threads,
        "pace": run.pace.name,
        "think_s": run.pace.think_s,
        "turns": turns,
        "cold_among_measured": len(samples) - len(warm),
        "wall_s": run.wall,
        "turns_per_s": turns / wall,
        "hearth_cpu_share": run.cpu / wall,
        "hearth_cpu_ms_per_turn": 1000 * run.cpu / turns if turns else None,
        "fake_cpu_share": run.fake_cpu / wall,
        "overhead_ms": Summary.of([ms(s.overhead) for s in warm]).as_dict(),
        "overhead_vs_simulated_ms": Summary.of(
            [ms(s.overhead_vs_simulated) for s in warm]
        ).as_dict(),
        "provider_held_ms": Summary.of([ms(s.held) for s in warm]).as_dict(),
        "ttft_ms": Summary.of([ms(s.ttft) for s in warm]).as_dict(),
        "simulated_ms": Summary.of([ms(s.simulated) for s in warm]).as_dict(),
        "fake_lateness_ms": Summary.of([ms(s.slept - s.simulated) for s in warm]).as_dict(),
        "segments_ms": segments,
    }


def _cell(summary: dict[str, Any], digits: int = 2) -> str:
    if not summary.get("n"):
        return "n/a"
    return (
        f"{summary['p50']:.{digits}f} / {summary['p90']:.{digits}f} / {summary['p99']:.{digits}f}"
    )


def markdown(rows: list[dict[str, Any]], latency: LatencyModel) -> str:
    """The overhead table, then the TTFT and CPU table."""
    overhead = table(
        [
            "threads",
            "pace",
            "warm turns",
            "turns/s",
            "**overhead** ms",
            "queue",
            "session",
            "prepare",
            "request → provider",
            "provider → first token",
            "deliver",
        ],
        [
            [
                r["threads"],
                r["pace"],
                r["overhead_ms"]["n"],
                f"{r['turns_per_s']:.1f}",
                f"**{_cell(r['overhead_ms'])}**",
                *(_cell(r["segments_ms"][name]) for name in SEGMENTS),
            ]
            for r in rows
        ],
    )
    ttft = table(
        [
            "threads",
            "pace",
            "TTFT ms",
            "TTFT − simulated ms",
            "at the provider ms",
            "simulated first token ms",
            "Hearth CPU (of one core)",
            "Hearth CPU ms/turn",
            "model fake CPU",
        ],
        [
            [
                r["threads"],
                r["pace"],
                _cell(r["ttft_ms"], 1),
                _cell(r["overhead_vs_simulated_ms"]),
                _cell(r["provider_held_ms"], 1),
                _cell(r["simulated_ms"], 1),
                f"{r['hearth_cpu_share']:.0%}",
                f"{r['hearth_cpu_ms_per_turn']:.1f}" if r["hearth_cpu_ms_per_turn"] else "n/a",
                f"{r['fake_cpu_share']:.0%}",
            ]
            for r in rows
        ],
    )
    timing = (
        f"Simulated provider: first token after {latency.base_s * 1000:.0f} ms + "
        f"{latency.prefill_s_per_token * 1e6:.0f} µs per uncached prompt token, then "
        f"{latency.output_tokens_per_s:.0f} tokens/s; answers of {REPLY_CHARS} characters in "
        f"deltas of {DELTA_CHARS}. Cells are p50 / p90 / p99."
    )
    return f"{overhead}\n{ttft}\n{timing}\n"


def paces_for(threads: int, seconds: float, min_turns: int, think_s: float) -> list[Pace]:
    """One thread: back-to-back only (nothing to contend with); more: both paces."""
    if threads == 1:
        return [Pace("back-to-back", 0.0, seconds, min_turns)]
    conversational = Pace(f"think {think_s:g} s", think_s, seconds)
    return [conversational, Pace("back-to-back", 0.0, seconds / 2, min_turns)]


async def run(
    thread_counts: list[int],
    *,
    seconds: float,
    min_turns: int,
    latency: LatencyModel,
    think_s: float = CONVERSATIONAL_THINK_S,
    platform: str = "telegram",
) -> list[dict[str, Any]]:
    """Measure every thread count with one model fake process."""
    rows = []
    async with model_server(latency, reply_chars=REPLY_CHARS, delta_chars=DELTA_CHARS) as fake:
        for threads in thread_counts:
            paces = paces_for(threads, seconds, min_turns, think_s)
            for row in await measure(fake, threads, paces, latency=latency, platform=platform):
                print(
                    f"overhead: {threads} threads, {row['pace']}, {row['overhead_ms']['n']} warm "
                    f"turns, p50 {row['overhead_ms']['p50']} ms, p99 {row['overhead_ms']['p99']} ms",
                    flush=True,
                )
                rows.append(row)
    return rows


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument(
        "--seconds", type=float, default=24.0, help="conversational phase (back-to-back: half)"
    )
    parser.add_argument(
        "--min-turns", type=int, default=30, help="back-to-back: at least this many turns"
    )
    parser.add_argument(
        "--think", type=float, default=CONVERSATIONAL_THINK_S, help="conversational mean, s"
    )
    parser.add_argument(
        "--platform",
        default="telegram",
        help="channel name: telegram (access control and limits run) or bench (they do not)",
    )
    parser.add_argument("--quick", action="store_true", help="1 and 3 threads, 1 s: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark and write ``overhead.json`` / ``overhead.md``."""
    args = parser().parse_args(argv)
    latency = REALISTIC
    if args.quick:  # the smallest run that still measures: a smoke test, not numbers
        args.threads, args.seconds, args.min_turns, args.think = [1, 3], 1.0, 2, 0.2
        latency = REALISTIC.scaled(0.1)
    options = {k: v for k, v in vars(args).items() if k != "out"} | {"latency": asdict(latency)}
    record = Run.begin("overhead", options)
    rows = asyncio.run(
        run(
            args.threads,
            seconds=args.seconds,
            min_turns=args.min_turns,
            latency=latency,
            think_s=args.think,
            platform=args.platform,
        )
    )
    return record.finish({"rows": rows}, markdown(rows, latency), args.out)


if __name__ == "__main__":
    main()

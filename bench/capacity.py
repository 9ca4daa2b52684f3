"""Item 3: capacity on this machine.

* **Throughput**: sustained turns per second with the provider simulated at zero latency (first
  token at once, the answer streamed as fast as it is read): closed-loop threads keep the service
  saturated; Hearth's CPU per turn follows.
* **Memory per warm session**: RSS of a fresh service process at 0, 1,000 and 10,000 warm
  sessions (each session has had one turn: a question of ~240 characters with its volatile
  context, an answer of 480 characters). Measured in a child process of its own, so nothing of
  the benchmark's other work is in it.
* **Start-up time to ready**: ``hearth run`` as a deployment starts it (a Telegram channel on the
  Bot API fake, the model fake, a fresh data directory), from process start to the log line that
  says it runs and to the first ``/readyz`` 200.

``python -m bench.capacity [--seconds 10] [--sessions 1000 10000] [--starts 3] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.channel import BenchChannel
from bench.model_server import model_server
from bench.prompts import question
from bench.results import RESULTS, ROOT, Run, child_env, table
from bench.service import (
    Stopwatch,
    bench_settings,
    cpu_seconds,
    hearth_run,
    rss_mib,
    running,
    tag,
)
from bench.summary import Summary
from tests.fakes.latency import LatencyModel
from tests.fakes.telegram import FakeTelegram

INSTANT = LatencyModel()
REPLY_CHARS = 480
DELTA_CHARS = 16
READY_TIMEOUT_S = 60.0


async def throughput(threads: int, seconds: float) -> dict[str, Any]:
    """Closed-loop threads against the zero-latency provider; turns per second."""
    async with model_server(INSTANT, reply_chars=REPLY_CHARS, delta_chars=DELTA_CHARS) as fake:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
            settings = bench_settings(
                Path(tmp), fake.anthropic_url, max_concurrent_turns=max(32, threads)
            )
            channel = BenchChannel()
            async with running(settings, channel):
                names = [f"t{i}" for i in range(threads)]
                await asyncio.gather(*(channel.ask(t, question(tag(t, 1))) for t in names))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + seconds
                latencies: list[float] = []

                async def converse(thread: str) -> None:
                    turn = 2
                    while loop.time() < deadline:
                        outcome = await channel.ask(thread, question(tag(thread, turn)))
                        if outcome.first_visible_ns is not None:
                            latencies.append((outcome.first_visible_ns - outcome.received_ns) / 1e6)
                        turn += 1

                fake_cpu = cpu_seconds(fake.pid)
                watch = Stopwatch()
                await asyncio.gather(*(converse(t) for t in names))
                wall, cpu = watch.elapsed()
                fake_cpu = cpu_seconds(fake.pid) - fake_cpu
    turns = len(latencies)
    return {
        "threads": threads,
        "turns": turns,
        "wall_s": wall,
        "turns_per_s": turns / wall,
        "hearth_cpu_share": cpu / wall,
        "hearth_cpu_ms_per_turn": 1000 * cpu / turns if turns else None,
        "fake_cpu_share": fake_cpu / wall,
        "ttft_ms": Summary.of(latencies).as_dict(),
    }


async def fill_sessions(channel: BenchChannel, start: int, stop: int, *, concurrency: int) -> None:
    """One turn in each of the threads ``s<start>`` … ``s<stop - 1>``, ``concurrency`` at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with slots:
            thread = f"s{index}"
            outcome = await channel.ask(thread, question(tag(thread, 1)))
            if outcome.failed:
                raise RuntimeError(f"session {thread} failed: {outcome.notice}")

    await asyncio.gather(*(one(i) for i in range(start, stop)))


def _settled_rss() -> float:
    gc.collect()
    return rss_mib()


async def rss_worker(model_url: str, counts: list[int]) -> list[dict[str, Any]]:
    """Inside the child: RSS at 0 and at each count of warm sessions."""
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        settings = bench_settings(
            Path(tmp), model_url, max_concurrent_turns=64, sessions={"max_warm": max(counts)}
        )
        channel = BenchChannel()
        async with running(settings, channel) as runtime:
            points = [{"sessions": 0, "warm": len(runtime.pool), "rss_mib": _settled_rss()}]
            made = 0
            for count in counts:
                await fill_sessions(channel, made, count, concurrency=64)
                made = count
                points.append(
                    {"sessions": count, "warm": len(runtime.pool), "rss_mib": _settled_rss()}
                )
    return points


async def memory(counts: list[int]) -> dict[str, Any]:
    """RSS per warm session, measured in a fresh child process."""
    async with model_server(INSTANT, reply_chars=REPLY_CHARS, delta_chars=REPLY_CHARS) as fake:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.capacity",
            "--rss-worker",
            fake.anthropic_url,
            "--sessions",
            *map(str, counts),
            cwd=ROOT,
            env=child_env(),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the RSS worker failed with exit code {process.returncode}")
    points: list[dict[str, Any]] = json.loads(out.decode().strip().splitlines()[-1])
    base, last = points[0], points[-1]
    per_session = (last["rss_mib"] - base["rss_mib"]) * 1024 / last["sessions"]
    return {"points": points, "kib_per_session": per_session}


async def start_once(model_url: str, telegram: FakeTelegram) -> dict[str, float]:
    """One ``hearth run`` from process start to ready; returns seconds to "running" and ready."""
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        config = {
            "data_dir": str(Path(tmp) / "data"),
            "models": {
                "providers": {
                    "anthropic": {"kind": "anthropic", "api_key": "sk-bench", "base_url": model_url}
                },
                "tiers": {"default": ["anthropic:claude-bench"]},
            },
            "channels": {
                "telegram": {
                    "token": telegram.token,
                    "api_base_url": f"{telegram.url}/bot",
                    "file_base_url": f"{telegram.url}/file/bot",
                }
            },
            "server": {"host": "127.0.0.1", "port": 0},
        }
        path = Path(tmp) / "hearth.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        async with hearth_run(path, start_limit_s=READY_TIMEOUT_S) as service:
            running_s = service.running_s
            ready_s = await asyncio.wait_for(_ready(service.port, service.started), READY_TIMEOUT_S)
    return {"running_s": running_s, "ready_s": ready_s}


async def _ready(port: int, started: float) -> float:
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return time.perf_counter() - started
            await asyncio.sleep(0.01)


async def startup(starts: int) -> dict[str, Any]:
    """``starts`` cold starts of ``hearth run``."""
    times = []
    async with model_server(INSTANT) as fake, FakeTelegram() as telegram:
        for _ in range(starts):
            times.append(await start_once(fake.anthropic_url, telegram))
    return {
        "starts": starts,
        "running_s": Summary.of([t["running_s"] for t in times]).as_dict(),
        "ready_s": Summary.of([t["ready_s"] for t in times]).as_dict(),
    }


def _cell(summary: dict[str, Any], digits: int = 2) -> str:
    if not summary.get("n"):
        return "n/a"
    return (
        f"{summary['p50']:.{digits}f} / {summary['p90']:.{digits}f} / {summary['p99']:.{digits}f}"
    )


def markdown(data: dict[str, Any]) -> str:
    """Three small tables: throughput, memory, start-up."""
    t = data["throughput"]
    throughput = table(
        [
            "threads",
            "turns",
            "turns/s",
            "Hearth CPU",
            "Hearth CPU ms/turn",
            "TTFT ms at saturation",
        ],
        [
            [
                t["threads"],
                t["turns"],
                f"**{t['turns_per_s']:.0f}**",
                f"{t['hearth_cpu_share']:.0%} of one core",
                f"{t['hearth_cpu_ms_per_turn']:.1f}",
                _cell(t["ttft_ms"], 1),
            ]
        ],
    )
    m = data["memory"]
    memory = table(
        ["warm sessions", "in the pool", "RSS MiB"],
        [[p["sessions"], p["warm"], f"{p['rss_mib']:.0f}"] for p in m["points"]],
    )
    s = data["startup"]
    start = table(
        ["starts", "process start → running s", "→ /readyz 200 s"],
        [[s["starts"], _cell(s["running_s"]), _cell(s["ready_s"])]],
    )
    return (
        f"{throughput}\n{memory}\n**{m['kib_per_session']:.1f} KiB per warm session** "
        f"(RSS growth from 0 to {m['points'][-1]['sessions']:,} sessions).\n\n{start}"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The three measurements, one after the other."""
    data = {"throughput": await throughput(args.threads, args.seconds)}
    print(f"capacity: {data['throughput']['turns_per_s']:.0f} turns/s", flush=True)
    data["memory"] = await memory(args.sessions)
    print(f"capacity: {data['memory']['kib_per_session']:.1f} KiB per session", flush=True)
    data["startup"] = await startup(args.starts)
    return data


def main(argv: list[str] | None = None) -> Path | None:
    """Run the benchmark and write ``capacity.json`` / ``capacity.md``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="4 threads 1 s, 20 sessions, 1 start: a smoke run"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rss-worker", metavar="MODEL_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_worker:
        points = asyncio.run(rss_worker(args.rss_worker, args.sessions))
        print(json.dumps(points), flush=True)
        return None
    if args.quick:
        args.threads, args.seconds, args.sessions, args.starts = 4, 1.0, [5, 20], 1
    options = {k: v for k, v in vars(args).items() if k not in ("out", "rss_worker")}
    record = Run.begin("capacity", options | {"latency": asdict(INSTANT)})
    data = asyncio.run(run(args))
    return record.finish(data, markdown(data), args.out)


if __name__ == "__main__":
    main()

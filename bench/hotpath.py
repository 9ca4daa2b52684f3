"""A profile of the hot path: py-spy samples the overhead benchmark while it measures.

py-spy attaches to this process only for the measured stretch (warm turns, after start-up and
warm-up) and keeps only samples that hold the GIL, i.e. where Python code of this process ran.
The samples are grouped by where the time went: Hearth's own packages, the model SDK and its HTTP
stack, SQLite, the event loop, and the benchmark's own channel. ``--stacks FILE`` keeps the raw
stacks (``frame;frame;… count`` lines, 1–2 MB) for flame graphs.

py-spy is a profiler, not a dependency: ``pip install -e '.[bench]'`` installs it. Without it the
script says so and writes nothing.

``python -m bench.hotpath [--threads 100] [--seconds 15] [--stacks FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from bench.model_server import model_server
from bench.overhead import DELTA_CHARS, REPLY_CHARS, Pace, measure
from bench.results import RESULTS, Run, table
from bench.service import REALISTIC
from tests.fakes.latency import LatencyModel

RATE_HZ = 250
OTHER = "other (interpreter, C extensions, stdlib)"
TOP = 25

# py-spy names frames "function (package/module.py:line)"; see group_of for how a sample is
# charged to one of these.
GROUPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("benchmark driver and channel", re.compile(r"\(bench/")),
    ("SQLite (aiosqlite, sqlite3)", re.compile(r"\((aiosqlite|sqlite3)/")),
    ("model SDK: anthropic (with its HTTP stack and pydantic)", re.compile(r"\(anthropic/")),
    ("HTTP client: httpx2, httpcore2, h11, anyio", re.compile(r"\((httpx2|httpcore2|h11|anyio)/")),
    ("pydantic", re.compile(r"\(pydantic")),
    ("Hearth: bot/", re.compile(r"\(bot/")),
    ("Hearth: agent/", re.compile(r"\(agent/")),
    ("Hearth: channels/", re.compile(r"\(channels/")),
    ("Hearth: config/", re.compile(r"\(config/")),
    ("logging", re.compile(r"\(logging/")),
    ("asyncio event loop", re.compile(r"\((asyncio/|selectors\.py)")),
)


def py_spy() -> str | None:
    """The py-spy executable next to this interpreter, or on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def sampling(executable: str, output: Path) -> AsyncIterator[None]:
    """py-spy attached to this process while the block runs (GIL-holding samples only)."""
    process = await asyncio.create_subprocess_exec(
        executable,
        "record",
        "--pid",
        str(os.getpid()),
        "--gil",
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.sleep(0.5)  # py-spy needs a moment to attach
        yield
    finally:
        process.send_signal(2)  # SIGINT: py-spy writes its file and exits
        _out, err = await asyncio.wait_for(process.communicate(), 30)
        if process.returncode not in (0, -2, 130):
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()}")


def parse(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """Raw py-spy output: one ``frame;frame;…;frame count`` line per distinct stack."""
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    # "name (/long/path/site-packages/pkg/mod.py:12)" → "name (pkg/mod.py)"
    frame = re.sub(r":\d+\)$", ")", frame)
    frame = re.sub(r"\(.*/site-packages/", "(", frame)
    return re.sub(r"\(.*/main/", "(", frame)


def _group(frame: str) -> str | None:
    for name, pattern in GROUPS:
        if pattern.search(frame):
            return name
    return None


def group_of(frames: list[str]) -> str:
    """Whose work a sample is: the library Hearth's innermost frame called, else Hearth's own.

    A sample under ``AnthropicProvider.stream`` that ends in h11 counts for the model SDK (with
    the HTTP stack and pydantic it uses); one whose innermost library frame is Hearth's counts
    for Hearth. Samples without any Hearth frame (the event loop, the SQLite worker thread)
    count for the innermost frame's library.
    """
    groups = [_group(frame) for frame in frames]
    hearth = [i for i, g in enumerate(groups) if g is not None and g.startswith("Hearth")]
    if not hearth:
        found = [g for g in reversed(groups) if g is not None]
        return found[0] if found else OTHER
    innermost = hearth[-1]
    for group in groups[innermost + 1 :]:
        if group is not None and group != "asyncio event loop":
            return group
    return groups[innermost] or OTHER


def analyse(stacks: list[tuple[list[str], int]]) -> dict[str, Any]:
    """Shares by group, the top functions by own time, and Hearth's functions by total time."""
    total = sum(count for _, count in stacks) or 1
    groups: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        groups[group_of(frames)] += count
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            if re.search(r"\((bot|agent|channels|config)/", frame):
                inclusive[frame] += count
    return {
        "samples": total,
        "groups": [{"group": g, "share": n / total} for g, n in groups.most_common()],
        "self": [{"function": f, "share": n / total} for f, n in own.most_common(TOP)],
        "hearth_inclusive": [
            {"function": f, "share": n / total} for f, n in inclusive.most_common(TOP)
        ],
    }


def markdown(result: dict[str, Any], threads: int) -> str:
    """Where the CPU went, by group, then Hearth's functions including callees."""
    groups = table(
        ["where the CPU time went (GIL held)", "share"],
        [[g["group"], f"{g['share']:.1%}"] for g in result["groups"]],
    )
    hearth = table(
        ["Hearth function (including what it calls)", "share"],
        [[f"`{h['function']}`", f"{h['share']:.1%}"] for h in result["hearth_inclusive"][:12]],
    )
    return f"{threads} threads, {result['samples']} samples at {RATE_HZ} Hz.\n\n{groups}\n{hearth}"


async def run(
    threads: int, seconds: float, output: Path, latency: LatencyModel = REALISTIC
) -> dict[str, Any]:
    """Profile one overhead measurement."""
    executable = py_spy()
    if executable is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    async with model_server(latency, reply_chars=REPLY_CHARS, delta_chars=DELTA_CHARS) as fake:
        (row,) = await measure(
            fake,
            threads,
            [Pace("back-to-back", 0.0, seconds)],
            latency=latency,
            during=lambda: sampling(executable, output),
        )
    with output.open(encoding="utf-8") as lines:
        result = analyse(parse(lines))
    return {"overhead": row, "profile": result}


def main(argv: list[str] | None = None) -> Path:
    """Profile the overhead benchmark; writes ``hotpath.json`` and ``hotpath.md``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--quick", action="store_true", help="3 threads, 2 s: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--stacks", type=Path, help="keep py-spy's raw stacks in this file")
    args = parser.parse_args(argv)
    latency = REALISTIC
    if args.quick:
        args.threads, args.seconds, latency = 3, 2.0, REALISTIC.scaled(0.1)
    args.out.mkdir(parents=True, exist_ok=True)
    record = Run.begin("hotpath", {"threads": args.threads, "seconds": args.seconds})
    with tempfile.TemporaryDirectory(prefix="hearth-hotpath-") as tmp:
        stacks = args.stacks or Path(tmp) / "stacks.txt"
        data = asyncio.run(run(args.threads, args.seconds, stacks, latency))
    return record.finish(data, markdown(data["profile"], args.threads), args.out)


if __name__ == "__main__":
    main()

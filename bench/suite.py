"""The whole benchmark suite behind ``python bench/run.py``.

Each benchmark runs in a fresh Python process (``python -m bench.<name>``), so that none inherits
another's memory, imports or event loop; afterwards every ``bench/results/<name>.md`` table
replaces the block between ``<!-- bench:<name> -->`` and ``<!-- /bench:<name> -->`` in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.results import RESULTS, ROOT, child_env

DOCS = ROOT / "docs" / "PERFORMANCE.md"
BENCHMARKS = ("overhead", "cache_share", "capacity", "delivery", "memory_search", "hotpath")
"""In the order they run; ``soak`` only runs when asked for (``--soak``)."""
ALL = (*BENCHMARKS, "soak")


class DocsError(ValueError):
    """docs/PERFORMANCE.md lacks the markers of a table."""


def replace_block(text: str, name: str, table: str) -> str:
    """``text`` with the block of benchmark ``name`` replaced by ``table``.

    Raises:
        DocsError: The ``<!-- bench:name -->`` / ``<!-- /bench:name -->`` pair is missing.
    """
    pattern = re.compile(
        rf"(<!-- bench:{re.escape(name)} -->\n).*?(<!-- /bench:{re.escape(name)} -->)", re.DOTALL
    )
    if pattern.search(text) is None:
        raise DocsError(f"no <!-- bench:{name} --> … <!-- /bench:{name} --> block in the document")
    return pattern.sub(lambda m: m.group(1) + table.strip() + "\n" + m.group(2), text, count=1)


def update_docs(docs: Path, out: Path, names: list[str]) -> list[str]:
    """Put each ``<out>/<name>.md`` into ``docs``; returns the names whose table was updated."""
    text = docs.read_text(encoding="utf-8")
    updated = []
    for name in names:
        table = out / f"{name}.md"
        if table.exists():
            text = replace_block(text, name, table.read_text(encoding="utf-8"))
            updated.append(name)
    docs.write_text(text, encoding="utf-8")
    return updated


def run_one(name: str, *, quick: bool, out: Path) -> float:
    """Run ``python -m bench.<name>``; returns its wall time in seconds.

    Raises:
        RuntimeError: The benchmark failed.
    """
    command = [sys.executable, "-m", f"bench.{name}", "--out", str(out)]
    if quick:
        command.append("--quick")
    started = time.perf_counter()
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, cwd=ROOT, env=child_env(), check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"benchmark {name} failed with exit code {done.returncode}")
    print(f"== {name}: {elapsed:.0f} s", flush=True)
    return elapsed


def has_py_spy() -> bool:
    """Whether the profiler the hot-path benchmark needs is installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return beside.exists() or shutil.which("py-spy") is not None


def main(argv: list[str] | None = None) -> int:
    """Run the suite; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run the benchmarks and regenerate the tables of docs/PERFORMANCE.md.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: smallest configurations")
    parser.add_argument("--only", nargs="+", choices=ALL, help="run only these benchmarks")
    parser.add_argument("--soak", action="store_true", help="also run the soak test (minutes)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results)")
    parser.add_argument(
        "--docs",
        type=Path,
        help="document to update (default docs/PERFORMANCE.md; a --quick run updates none)",
    )
    args = parser.parse_args(argv)
    names = list(args.only or [*BENCHMARKS, *(["soak"] if args.soak else [])])
    if "hotpath" in names and not has_py_spy():
        print("== hotpath: skipped, py-spy is not installed (pip install -e '.[bench]')")
        names.remove("hotpath")
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    docs = args.docs or (None if args.quick else DOCS)
    started = time.perf_counter()
    for name in names:
        run_one(name, quick=args.quick, out=out)
    if docs is not None:
        updated = update_docs(docs, out, names)
        print(f"== updated {docs}: {', '.join(updated) or 'nothing'}")
    print(f"== all done in {time.perf_counter() - started:.0f} s; results in {out}")
    return 0

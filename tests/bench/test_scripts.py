"""Every benchmark script runs in its smallest configuration and writes well-formed results.

No timing is asserted (the machine is shared); what is checked is that each script still runs
against the current code and that its JSON and Markdown have the shape docs/PERFORMANCE.md and
bench/run.py rely on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import cache_share, capacity, delivery, hotpath, memory_search, overhead, soak
from bench.suite import BENCHMARKS, DOCS, has_py_spy

Main = Callable[[list[str] | None], Path | None]


def run_quick(main: Main, out: Path) -> dict[str, Any]:
    path = main(["--quick", "--out", str(out)])
    assert path is not None and path.exists()
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    meta = data["meta"]
    assert meta["machine"]["cpus"] >= 1 and len(meta["load_before"]) == 3
    table = (path.parent / f"{meta['benchmark']}.md").read_text(encoding="utf-8")
    assert re.search(r"^\|.*\|\n\|(---\|)+\n\|", table, re.MULTILINE)  # a header and a row
    assert "load average before" in table
    return data


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_overhead(tmp_path: Path) -> None:
    data = run_quick(overhead.main, tmp_path)
    rows = data["rows"]
    assert [(r["threads"], r["pace"]) for r in rows] == [
        (1, "back-to-back"),
        (3, "think 0.2 s"),
        (3, "back-to-back"),
    ]
    for row in rows:
        assert row["overhead_ms"]["n"] >= 2 and is_number(row["overhead_ms"]["p99"])
        assert set(row["segments_ms"]) == set(overhead.SEGMENTS)
        assert row["failed_or_refused"] == 0


def test_cache_share(tmp_path: Path) -> None:
    turns = run_quick(cache_share.main, tmp_path)["turns"]
    assert set(turns) == set(cache_share.VARIANTS)
    for variant, rows in turns.items():
        assert [r["turn"] for r in rows] == [1, 2, 3], variant
        assert all(0.0 <= r["share"] <= 1.0 for r in rows), variant
    assert turns["warm"][2]["share"] > turns["naive"][2]["share"]


def test_capacity(tmp_path: Path) -> None:
    data = run_quick(capacity.main, tmp_path)
    assert data["throughput"]["turns"] > 0 and is_number(data["throughput"]["turns_per_s"])
    points = data["memory"]["points"]
    assert [p["sessions"] for p in points] == [0, 5, 20]
    assert [p["warm"] for p in points] == [0, 5, 20]
    assert data["startup"]["starts"] == 1 and is_number(data["startup"]["ready_s"]["p50"])


def test_delivery(tmp_path: Path) -> None:
    rows = run_quick(delivery.main, tmp_path)["rows"]
    assert [r["name"] for r in rows] == [m.name for m in delivery.MODES]
    for row in rows:
        assert row["turns"] == 2 and row["deliver_ms"]["n"] == 2, row["name"]


def test_memory_search(tmp_path: Path) -> None:
    rows = run_quick(memory_search.main, tmp_path)["rows"]
    assert [r["memories"] for r in rows] == [200, 1000]
    for row in rows:
        assert is_number(row["cold_ms"]) and row["vector_search"] == "numpy"
        for column in ("hybrid_ms", "keyword_ms", "vector_ms"):
            assert is_number(row[column]["p50"]), column


def test_soak(tmp_path: Path) -> None:
    data = run_quick(soak.main, tmp_path)
    assert data["turns"] == 20 and data["warnings_and_errors_logged"] == 0
    assert is_number(data["slope_mib_per_1000_turns"]) and data["samples"]


@pytest.mark.skipif(not has_py_spy(), reason="py-spy is not installed (the bench extra)")
def test_hotpath(tmp_path: Path) -> None:
    data = run_quick(hotpath.main, tmp_path)
    profile = data["profile"]
    assert profile["samples"] > 0
    assert sum(g["share"] for g in profile["groups"]) == pytest.approx(1.0)


def test_every_benchmark_has_its_table_in_the_performance_doc() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in (*BENCHMARKS, "soak"):
        assert f"<!-- bench:{name} -->" in text and f"<!-- /bench:{name} -->" in text, name

"""bench/memory_search.py runs in its smallest configuration and writes well-formed results (no
timing is asserted: the machine is shared)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench import memory_search


def test_the_memory_benchmark_writes_a_row_per_size(tmp_path: Path) -> None:
    path = memory_search.main(["--quick", "--out", str(tmp_path)])
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data["rows"]
    assert [r["memories"] for r in rows] == [200, 1000]
    for row in rows:
        assert row["dims"] == 64 and row["vector_search"] in ("numpy", "sqlite-vec")
        timings = [row["cold_ms"]] + [
            row[kind][p]
            for kind in ("hybrid_ms", "keyword_ms", "vector_ms")
            for p in ("p50", "p90")
        ]
        assert all(isinstance(t, float) and math.isfinite(t) and t >= 0 for t in timings)
        assert row["hybrid_ms"]["p50"] <= row["hybrid_ms"]["p90"]
    table = (tmp_path / "memory_search.md").read_text(encoding="utf-8")
    assert "| 1,000 | numpy, 64 dims |" in table or "| 1,000 | sqlite-vec, 64 dims |" in table
    assert data["meta"]["benchmark"] == "memory_search"

"""Result files: JSON with the machine and its load, plus a Markdown table per benchmark."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def child_env() -> dict[str, str]:
    """The environment for a child Python process that imports ``bench`` and ``tests``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (``uptime``): other work on the machine shows here."""
    return os.getloadavg()


def load_text(load: Sequence[float]) -> str:
    """Load averages as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in load)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "commit": _commit(),
    }


@dataclass
class Run:
    """One benchmark run: its name, options and the load before it started."""

    name: str
    options: dict[str, Any]
    started: datetime
    load_before: tuple[float, float, float]

    @classmethod
    def begin(cls, name: str, options: dict[str, Any]) -> Run:
        """Note the time and the machine's load before measuring."""
        return cls(name, options, datetime.now(UTC), load_average())

    def finish(self, data: dict[str, Any], markdown: str, out: Path = RESULTS) -> Path:
        """Write ``<out>/<name>.json`` and ``<out>/<name>.md``; returns the JSON path.

        The Markdown file holds the table followed by a line naming the machine and its load.
        """
        out.mkdir(parents=True, exist_ok=True)
        load_after = load_average()
        meta: dict[str, Any] = {
            "benchmark": self.name,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "options": self.options,
            "machine": machine(),
            "load_before": list(self.load_before),
            "load_after": list(load_after),
        }
        path = out / f"{self.name}.json"
        path.write_text(json.dumps({"meta": meta, **data}, indent=2) + "\n", encoding="utf-8")
        spec = meta["machine"]
        note = (
            f"\n_Measured {meta['started']} on {spec['cpus']} × {spec['cpu_model']}, Python "
            f"{spec['python']}, commit {spec['commit']}; load average before "
            f"{load_text(self.load_before)}, after {load_text(load_after)}._\n"
        )
        (out / f"{self.name}.md").write_text(markdown.rstrip() + "\n" + note, encoding="utf-8")
        return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"

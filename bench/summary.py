"""Percentile summaries: every table reports median, p90 and p99 with the sample count."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside 0..100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Median, p90, p99 (and count, mean, max) of one measured quantity."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise ``values``; an empty sequence gives NaNs with ``n == 0``."""
        if not values:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        return cls(
            n=len(values),
            p50=percentile(values, 50),
            p90=percentile(values, 90),
            p99=percentile(values, 99),
            mean=sum(values) / len(values),
            max=max(values),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON results (NaN becomes None, which JSON can carry)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }

    def cell(self, digits: int = 2) -> str:
        """``p50 / p90 / p99`` for a Markdown table cell."""
        if self.n == 0:
            return "n/a"
        return f"{self.p50:.{digits}f} / {self.p90:.{digits}f} / {self.p99:.{digits}f}"


def ms(ns: int | float) -> float:
    """Nanoseconds as milliseconds."""
    return ns / 1e6

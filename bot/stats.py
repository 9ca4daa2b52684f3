"""TTFT and cache figures from stored turns, grouped the ways that explain latency."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.store.base import TurnRecord
from bot.timeline import seconds

SEGMENTS = ("queue", "session", "prepare", "model", "deliver")


@dataclass(frozen=True, slots=True)
class StatsRow:
    """Figures for one group of turns."""

    group: str
    value: str
    turns: int
    ttft_p50_ns: int | None
    ttft_p90_ns: int | None
    segment_medians_ns: dict[str, int]
    cache_read_share: float
    failed: int
    cost_usd: float
    cache_savings_usd: float


def percentile(values: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


GROUPINGS: dict[str, Callable[[TurnRecord], str]] = {
    "all": lambda t: "all",
    "channel": lambda t: t.platform,
    "model": lambda t: t.model or "-",
    "session": lambda t: "warm" if t.warm else "cold",
    "turn": lambda t: "1" if t.ordinal == 1 else "2+",
}


def summarize(turns: Iterable[TurnRecord]) -> list[StatsRow]:
    """One row per (grouping, value), groupings in the order of :data:`GROUPINGS`."""
    materialized = list(turns)
    rows: list[StatsRow] = []
    for group, key in GROUPINGS.items():
        buckets: dict[str, list[TurnRecord]] = {}
        for turn in materialized:
            buckets.setdefault(key(turn), []).append(turn)
        rows += [_row(group, value, buckets[value]) for value in sorted(buckets)]
    return rows


def _row(group: str, value: str, turns: list[TurnRecord]) -> StatsRow:
    timed = [t.segments for t in turns if t.segments is not None]
    ttfts = [s.ttft for s in timed]
    medians = {name: percentile([getattr(s, name) for s in timed], 0.5) or 0 for name in SEGMENTS}
    prompt = sum(t.usage.input_tokens for t in turns)
    read = sum(t.usage.cache_read_tokens for t in turns)
    return StatsRow(
        group=group,
        value=value,
        turns=len(turns),
        ttft_p50_ns=percentile(ttfts, 0.5),
        ttft_p90_ns=percentile(ttfts, 0.9),
        segment_medians_ns=medians,
        cache_read_share=read / prompt if prompt else 0.0,
        failed=sum(1 for t in turns if t.status != "ok"),
        cost_usd=sum(t.cost_usd for t in turns),
        cache_savings_usd=sum(t.cache_savings_usd for t in turns),
    )


def format_table(rows: Sequence[StatsRow]) -> str:
    """A plain-text table for the terminal (seconds, cache share in percent)."""
    header = (
        "group",
        "value",
        "turns",
        "p50",
        "p90",
        *SEGMENTS,
        "cache",
        "failed",
        "cost$",
        "saved$",
    )
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        lines.append(
            (
                r.group,
                r.value,
                str(r.turns),
                _s(r.ttft_p50_ns),
                _s(r.ttft_p90_ns),
                *(seconds(r.segment_medians_ns[n]) for n in SEGMENTS),
                f"{r.cache_read_share:.0%}",
                str(r.failed),
                f"{r.cost_usd:.4f}",
                f"{r.cache_savings_usd:.4f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _s(ns: int | None) -> str:
    return "-" if ns is None else seconds(ns)

"""``hearth stats --html``: one self-contained page of charts from the stored turns.

The charts answer the questions the TTFT work is about (DESIGN.md §1): how first-token time is
distributed per channel, which segment it is spent in, what a warm session and a continued turn
save, and whether the prompt cache keeps hitting over time. Everything is inline (CSS and SVG),
so the file can be mailed or opened offline.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from bot.charts import Series, grouped_bars, line_chart, stacked_bars
from bot.stats import SEGMENTS, StatsRow, percentile, summarize
from bot.store.base import TurnRecord

# Bin edges in seconds for the TTFT distribution: doubling widths, as latency spreads that way.
TTFT_EDGES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)
SEGMENT_COLORS = ("#9c9ede", "#59a14f", "#f28e2b", "#e15759", "#4e79a7")
NS = 1e9

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  background:#f6f7f9;color:#1d232b}
main{max-width:780px;margin:0 auto;padding:24px 16px 48px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:0 0 4px}
.lead{color:#56606b;margin:0 0 20px}
figure{background:#fff;border:1px solid #dde1e6;border-radius:8px;margin:0 0 20px;padding:16px}
figcaption{color:#56606b;margin:0 0 8px;font-size:14px}
svg{width:100%;height:auto;display:block}
svg text{font-size:12px;fill:#3b4450} svg .grid{stroke:#e6e9ed;stroke-width:1}
.figures{display:flex;gap:24px;flex-wrap:wrap;margin:0 0 20px}
.figures div{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px}
.figures b{display:block;font-size:20px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12px;background:#fff}
th,td{border-bottom:1px solid #e6e9ed;padding:4px 5px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
.empty{color:#56606b;font-style:italic}
"""


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _seconds_tick(value: float) -> str:
    return f"{value:g} s"


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _bin_labels() -> list[str]:
    labels = []
    for low, high in itertools.pairwise(TTFT_EDGES):
        labels.append(f"≥{low:g} s" if math.isinf(high) else f"{low:g}–{high:g} s")
    return labels


def _bin(seconds: float) -> int:
    return next(i for i, high in enumerate(TTFT_EDGES[1:]) if seconds < high)


def _figure(ident: str, title: str, caption: str, svg: str | None) -> str:
    body = svg if svg is not None else '<p class="empty">No turns with a visible answer yet.</p>'
    return (
        f'<figure id="{ident}"><h2>{escape(title)}</h2>'
        f"<figcaption>{escape(caption)}</figcaption>{body}</figure>"
    )


def ttft_distribution(turns: Sequence[TurnRecord]) -> str | None:
    """Share of each channel's turns per TTFT bin (grouped bars, one series per channel)."""
    timed = [t for t in turns if t.ttft_ns is not None]
    if not timed:
        return None
    series = []
    for channel in sorted({t.platform for t in timed}):
        counts = [0] * (len(TTFT_EDGES) - 1)
        mine = [t for t in timed if t.platform == channel]
        for turn in mine:
            counts[_bin((turn.ttft_ns or 0) / NS)] += 1
        series.append(Series(channel, [c / len(mine) for c in counts], counts))
    return grouped_bars("TTFT distribution by channel", _bin_labels(), series, _percent)


def segment_medians(rows: Sequence[StatsRow]) -> str | None:
    """Median of each segment, stacked, for every channel, warm/cold and turn-ordinal group."""
    chosen = [r for r in rows if r.group != "model" and r.ttft_p50_ns is not None]
    if not chosen:
        return None
    names = {"all": "all turns", "session": "{} session", "turn": "turn {}"}
    bars = [
        (
            names.get(r.group, "{}").format(r.value),
            [r.segment_medians_ns[s] / NS for s in SEGMENTS],
        )
        for r in chosen
    ]
    return stacked_bars(
        "Median TTFT segments", bars, SEGMENTS, SEGMENT_COLORS, _seconds, tick=_seconds_tick
    )


def percentiles_by(rows: Sequence[StatsRow], group: str, order: Sequence[str]) -> str | None:
    """p50 and p90 TTFT side by side for the values of one grouping (warm/cold, 1/2+)."""
    found = {r.value: r for r in rows if r.group == group and r.ttft_p50_ns is not None}
    values = [v for v in order if v in found]
    if not values:
        return None
    counts = [found[v].turns for v in values]
    series = [
        Series("p50", [(found[v].ttft_p50_ns or 0) / NS for v in values], counts),
        Series("p90", [(found[v].ttft_p90_ns or 0) / NS for v in values], counts),
    ]
    label = {"session": "warm vs cold", "turn": "turn 1 vs 2+"}.get(group, group)
    return grouped_bars(f"TTFT {label}", values, series, _seconds, tick=_seconds_tick, height=240)


def cache_share_over_time(turns: Sequence[TurnRecord]) -> str | None:
    """Cache-read share of input tokens per day (per hour when all turns fall within two days)."""
    priced = [t for t in turns if t.usage.input_tokens > 0]
    if not priced:
        return None
    start = min(t.created_at for t in priced)
    end = max(t.created_at for t in priced)
    hourly = (end - start).total_seconds() < 2 * 86400
    pattern = "%m-%d %H:00" if hourly else "%Y-%m-%d"
    read: dict[str, int] = {}
    total: dict[str, int] = {}
    for turn in sorted(priced, key=lambda t: t.created_at):
        bucket = turn.created_at.astimezone(UTC).strftime(pattern)
        read[bucket] = read.get(bucket, 0) + turn.usage.cache_read_tokens
        total[bucket] = total.get(bucket, 0) + turn.usage.input_tokens
    points = [(bucket, read[bucket] / total[bucket]) for bucket in total]
    return line_chart("Cache-read share over time", points, _percent)


def _headline(turns: Sequence[TurnRecord]) -> str:
    ttfts = [t.ttft_ns for t in turns if t.ttft_ns is not None]
    prompt = sum(t.usage.input_tokens for t in turns)
    read = sum(t.usage.cache_read_tokens for t in turns)
    p50, p90 = percentile(ttfts, 0.5), percentile(ttfts, 0.9)
    items = [
        ("turns", str(len(turns))),
        ("TTFT p50", "-" if p50 is None else _seconds(p50 / NS)),
        ("TTFT p90", "-" if p90 is None else _seconds(p90 / NS)),
        ("cache-read share", _percent(read / prompt) if prompt else "-"),
        ("warm turns", _percent(sum(t.warm for t in turns) / len(turns)) if turns else "-"),
    ]
    cells = "".join(f"<div>{escape(name)}<b>{escape(value)}</b></div>" for name, value in items)
    return f'<section class="figures" id="headline">{cells}</section>'


def _table(rows: Sequence[StatsRow]) -> str:
    head = ["group", "value", "turns", "p50", "p90", *SEGMENTS, "cache", "failed", "cost $"]
    lines = ["<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = [
            r.group,
            r.value,
            str(r.turns),
            "-" if r.ttft_p50_ns is None else _seconds(r.ttft_p50_ns / NS),
            "-" if r.ttft_p90_ns is None else _seconds(r.ttft_p90_ns / NS),
            *(_seconds(r.segment_medians_ns[s] / NS) for s in SEGMENTS),
            _percent(r.cache_read_share),
            str(r.failed),
            f"{r.cost_usd:.4f}",
        ]
        lines.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    table = f'<div class="scroll"><table>{"".join(lines)}</table></div>'
    return f'<figure id="table"><h2>All figures</h2>{table}</figure>'


def render_report(turns: Sequence[TurnRecord], generated: datetime | None = None) -> str:
    """The whole page for ``turns`` (oldest first)."""
    rows = summarize(turns)
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    span = ""
    if turns:
        first, last = turns[0].created_at, turns[-1].created_at
        span = f" from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    figures = [
        _figure(
            "ttft-distribution",
            "Time to first token, by channel",
            "Share of each channel's answered turns per TTFT range (hover a bar for the count).",
            ttft_distribution(turns),
        ),
        _figure(
            "segment-medians",
            "Where the time goes",
            "Median of each TTFT segment: queue, session, prepare, model, deliver.",
            segment_medians(rows),
        ),
        _figure(
            "warm-cold",
            "Warm vs cold sessions",
            "TTFT p50 and p90 when the session was in memory (warm) or restored from the store.",
            percentiles_by(rows, "session", ("warm", "cold")),
        ),
        _figure(
            "turn-ordinal",
            "First turn vs continued turns",
            "TTFT p50 and p90 of a session's first turn and of the turns after it.",
            percentiles_by(rows, "turn", ("1", "2+")),
        ),
        _figure(
            "cache-share",
            "Prompt-cache reads over time",
            "Share of input tokens read from the provider's prompt cache.",
            cache_share_over_time(turns),
        ),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Hearth stats</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>Hearth stats</h1><p class='lead'>{len(turns)} turns{escape(span)}; "
        f"generated {escape(when)}.</p>"
        + _headline(turns)
        + "".join(figures)
        + (_table(rows) if rows else "")
        + "</main></body></html>\n"
    )


def write_report(turns: Sequence[TurnRecord], path: Path) -> None:
    """Write the page for ``turns`` to ``path``."""
    path.write_text(render_report(turns), encoding="utf-8")

"""Small inline-SVG charts for the stats report: grouped bars, stacked bars, a line.

Pure functions from figures to SVG text: no JavaScript, no fonts or scripts from elsewhere, so the
page works offline and in a mail attachment. Every mark carries a ``<title>`` (the browser shows
it on hover) and ``data-*`` attributes with its figure, which the tests read back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
PLOT_LEFT = 56
PLOT_RIGHT = 16
PLOT_TOP = 16
AXIS_BOTTOM = 48
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948")

Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    """One named set of values, one per category; ``counts`` label the bars' hover text."""

    name: str
    values: Sequence[float]
    counts: Sequence[int] | None = None


def nice_max(value: float, ticks: int = 5) -> tuple[float, float]:
    """An axis maximum at or above ``value`` and its tick step, on a 1-2-2.5-5 grid."""
    if value <= 0:
        return 1.0, 0.2
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(value / step - 1e-9), step


def _text(x: float, y: float, text: str, *, anchor: str = "middle", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _svg(height: int, body: list[str], label: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _legend(names: Sequence[str], colors: Sequence[str], y: float) -> list[str]:
    parts, x = [], float(PLOT_LEFT)
    for name, color in zip(names, colors, strict=True):
        parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(x + 16, y, name, anchor="start", cls="legend"))
        x += 28 + 7.5 * len(name)
    return parts


def _y_axis(top: float, bottom: float, maximum: float, step: float, fmt: Format) -> list[str]:
    parts = []
    count = round(maximum / step)
    for i in range(count + 1):
        value = i * step
        y = bottom - (bottom - top) * value / maximum
        parts.append(
            f'<line x1="{PLOT_LEFT}" x2="{WIDTH - PLOT_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'class="grid"/>'
        )
        parts.append(_text(PLOT_LEFT - 6, y + 4, fmt(value), anchor="end", cls="tick"))
    return parts


def grouped_bars(
    label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
    *,
    tick: Format | None = None,
    height: int = 280,
) -> str:
    """Vertical bars: one group per category, one bar per series, a legend when several.

    ``fmt`` renders values (hover text), ``tick`` the axis labels (``fmt`` when not given).
    """
    bottom = height - AXIS_BOTTOM
    peak = max((v for s in series for v in s.values), default=0.0)
    maximum, step = nice_max(peak)
    body = _y_axis(PLOT_TOP, bottom, maximum, step, tick or fmt)
    group_w = (WIDTH - PLOT_LEFT - PLOT_RIGHT) / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    for ci, category in enumerate(categories):
        x0 = PLOT_LEFT + ci * group_w + group_w * 0.1
        for si, one in enumerate(series):
            value = one.values[ci]
            h = (bottom - PLOT_TOP) * value / maximum
            x, y = x0 + si * bar_w, bottom - h
            count = one.counts[ci] if one.counts is not None else None
            hover = f"{one.name} · {category}: {fmt(value)}"
            hover += f" ({count} turns)" if count is not None else ""
            data = f' data-series="{escape(one.name)}" data-category="{escape(category)}"'
            data += f' data-value="{value:.6g}"'
            data += f' data-count="{count}"' if count is not None else ""
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[si % len(PALETTE)]}"{data}>'
                f"<title>{escape(hover)}</title></rect>"
            )
        body.append(_text(PLOT_LEFT + (ci + 0.5) * group_w, bottom + 18, category, cls="tick"))
    if len(series) > 1:
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
        body += _legend([s.name for s in series], colors, height - 8)
    return _svg(height, body, label)


def stacked_bars(
    label: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    parts: Sequence[str],
    colors: Sequence[str],
    fmt: Format,
    *,
    tick: Format | None = None,
) -> str:
    """Horizontal bars, one per row, each split into ``parts`` (e.g. TTFT segments), the total
    written after each bar."""
    row_h, left, total_w = 30, 150, 64
    height = PLOT_TOP + row_h * len(rows) + AXIS_BOTTOM
    peak = max((sum(values) for _, values in rows), default=0.0)
    maximum, step = nice_max(peak)
    span = WIDTH - left - PLOT_RIGHT - total_w
    body: list[str] = []
    bottom = PLOT_TOP + row_h * len(rows)
    for i in range(round(maximum / step) + 1):
        x = left + span * i * step / maximum
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PLOT_TOP}" y2="{bottom}" class="grid"/>')
        body.append(_text(x, bottom + 16, (tick or fmt)(i * step), cls="tick"))
    for ri, (name, values) in enumerate(rows):
        y, x = PLOT_TOP + ri * row_h + 4, float(left)
        body.append(_text(left - 8, y + 16, name, anchor="end", cls="tick"))
        for part, value, color in zip(parts, values, colors, strict=True):
            w = span * value / maximum
            body.append(
                f'<rect class="segment" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                f'height="{row_h - 8}" fill="{color}" data-row="{escape(name)}" '
                f'data-part="{escape(part)}" data-value="{value:.6g}">'
                f"<title>{escape(f'{name} · {part}: {fmt(value)}')}</title></rect>"
            )
            x += w
        body.append(_text(x + 6, y + 16, fmt(sum(values)), anchor="start", cls="tick"))
    body += _legend(parts, colors, height - 8)
    return _svg(height, body, label)


def line_chart(
    label: str, points: Sequence[tuple[str, float]], fmt: Format, maximum: float = 1.0
) -> str:
    """A line through ``points`` (x labels in order) on a fixed 0..``maximum`` axis."""
    height = 260
    bottom = height - AXIS_BOTTOM
    _, step = nice_max(maximum)
    body = _y_axis(PLOT_TOP, bottom, maximum, step, fmt)
    span = WIDTH - PLOT_LEFT - PLOT_RIGHT
    every = max(1, math.ceil(len(points) / 10))  # at most about ten x labels
    xy = [
        (
            PLOT_LEFT + span * (i + 0.5) / len(points),
            bottom - (bottom - PLOT_TOP) * value / maximum,
        )
        for i, (_, value) in enumerate(points)
    ]
    if len(xy) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        body.append(
            f'<polyline points="{line}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>'
        )
    for i, ((name, value), (x, y)) in enumerate(zip(points, xy, strict=True)):
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{PALETTE[0]}" '
            f'data-category="{escape(name)}" data-value="{value:.6g}">'
            f"<title>{escape(f'{name}: {fmt(value)}')}</title></circle>"
        )
        if i % every == 0:
            body.append(_text(x, bottom + 18, name, cls="tick"))
    return _svg(height, body, label)

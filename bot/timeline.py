"""The TTFT timeline of one turn (DESIGN.md §3) and the footer that reports it.

Stamps are ``time.perf_counter_ns()`` values taken where things happen; segments are differences of
consecutive stamps, so they add up to ``first_visible - received`` exactly, in integer nanoseconds.
"""

from __future__ import annotations

import time
from typing import Literal

from agent.messages import Usage
from bot.store.base import Segments

Stamp = Literal[
    "received", "dequeued", "session_ready", "request_sent", "first_token", "first_visible", "done"
]
FooterMode = Literal["off", "ttft", "full"]


class Timeline:
    """Monotonic stamps of one turn; the first stamp of each name wins."""

    def __init__(self, received_ns: int) -> None:
        self._stamps: dict[Stamp, int] = {"received": received_ns}

    def stamp(self, name: Stamp, at_ns: int | None = None) -> int:
        """Record ``name`` now (or at ``at_ns``) unless already recorded; returns the stamp."""
        if name not in self._stamps:
            self._stamps[name] = time.perf_counter_ns() if at_ns is None else at_ns
        return self._stamps[name]

    def has(self, name: Stamp) -> bool:
        """Whether ``name`` was stamped."""
        return name in self._stamps

    def segments(self) -> Segments | None:
        """The five TTFT segments, or None when no text became visible."""
        s = self._stamps
        needed: tuple[Stamp, ...] = (
            "received",
            "dequeued",
            "session_ready",
            "request_sent",
            "first_token",
            "first_visible",
        )
        if any(n not in s for n in needed):
            return None
        return Segments(
            queue=s["dequeued"] - s["received"],
            session=s["session_ready"] - s["dequeued"],
            prepare=s["request_sent"] - s["session_ready"],
            model=s["first_token"] - s["request_sent"],
            deliver=s["first_visible"] - s["first_token"],
        )

    def total_ns(self) -> int:
        """``done - received`` (or up to now, before ``done``)."""
        end = self._stamps.get("done", time.perf_counter_ns())
        return end - self._stamps["received"]


def seconds(ns: int) -> str:
    """Nanoseconds as seconds with two decimals, the unit users read."""
    return f"{ns / 1e9:.2f}"


def footer(
    mode: FooterMode,
    segments: Segments | None,
    usage: Usage,
    warm: bool,
    *,
    model: str = "",
    fallback: bool = False,
) -> str:
    """The reply footer, e.g. ``⏱ 0.84 s to first token``; empty when off or nothing was shown.

    ``full`` adds the segments, the cache-read share, warm/cold and the model that answered.
    """
    if mode == "off" or segments is None:
        return ""
    head = f"⏱ {seconds(segments.ttft)} s to first token"
    if mode == "ttft":
        return head
    parts = [
        f"queue {seconds(segments.queue)}",
        f"session {seconds(segments.session)}",
        f"prepare {seconds(segments.prepare)}",
        f"model {seconds(segments.model)}",
        f"deliver {seconds(segments.deliver)}",
        f"cache {usage.cache_read_share:.0%}",
        "warm" if warm else "cold",
    ]
    if model:
        parts.append(f"answered by {model}{' (fallback)' if fallback else ''}")
    return f"{head} · " + " · ".join(parts)

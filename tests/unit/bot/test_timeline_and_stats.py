"""The TTFT arithmetic, the footer, the stats grouping and command parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.messages import Usage
from bot.commands import Command, parse_command
from bot.stats import format_table, percentile, summarize
from bot.store.base import Segments, TurnRecord
from bot.timeline import Timeline, footer


def test_segments_are_consecutive_differences_that_sum_to_ttft() -> None:
    timeline = Timeline(1_000)
    for name, at in [
        ("dequeued", 1_500),
        ("session_ready", 1_600),
        ("request_sent", 2_600),
        ("first_token", 9_000),
        ("first_visible", 9_400),
        ("done", 20_000),
    ]:
        timeline.stamp(name, at)  # type: ignore[arg-type]
    timeline.stamp("first_token", 99_999)  # a later token does not move the stamp
    segments = timeline.segments()
    assert segments == Segments(queue=500, session=100, prepare=1_000, model=6_400, deliver=400)
    assert segments.ttft == 8_400
    assert timeline.total_ns() == 19_000


def test_no_segments_until_text_was_visible() -> None:
    timeline = Timeline(0)
    timeline.stamp("dequeued", 1)
    timeline.stamp("session_ready", 2)
    timeline.stamp("request_sent", 3)
    assert timeline.segments() is None


SEG = Segments(
    queue=10_000_000, session=0, prepare=20_000_000, model=800_000_000, deliver=10_000_000
)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("off", ""),
        ("ttft", "⏱ 0.84 s to first token"),
        (
            "full",
            "⏱ 0.84 s to first token · queue 0.01 · session 0.00 · prepare 0.02 · model 0.80"
            " · deliver 0.01 · cache 75% · warm · answered by a:m (fallback)",
        ),
    ],
)
def test_footer(mode: str, expected: str) -> None:
    usage = Usage(input_tokens=400, cache_read_tokens=300)
    assert footer(mode, SEG, usage, warm=True, model="a:m", fallback=True) == expected  # type: ignore[arg-type]


def test_footer_is_empty_when_nothing_was_shown() -> None:
    assert footer("full", None, Usage(), warm=False) == ""


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.5, None), ([5], 0.9, 5), ([1, 2, 3, 4], 0.5, 2), ([4, 1, 3, 2, 10], 0.9, 10)],
)
def test_percentile(values: list[int], fraction: float, expected: int | None) -> None:
    assert percentile(values, fraction) == expected


def turn(ordinal: int, warm: bool, ttft_ms: int, read: int, model: str = "a:m") -> TurnRecord:
    ms = 1_000_000
    return TurnRecord(
        id=str(ordinal),
        session_id="s",
        ordinal=ordinal,
        platform="console",
        profile="default",
        model=model,
        warm=warm,
        status="ok",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        segments=Segments(0, 0, 0, ttft_ms * ms, 0),
        total_ns=ttft_ms * ms,
        usage=Usage(input_tokens=1000, cache_read_tokens=read),
    )


def test_summary_groups_by_warmth_turn_ordinal_and_model() -> None:
    rows = summarize(
        [turn(1, False, 900, 0), turn(2, True, 300, 800), turn(3, True, 100, 900, "b:n")]
    )
    by = {(r.group, r.value): r for r in rows}
    assert by[("session", "cold")].ttft_p50_ns == 900_000_000
    assert by[("session", "warm")].ttft_p50_ns == 100_000_000
    assert by[("session", "warm")].cache_read_share == pytest.approx(0.85)
    assert by[("turn", "2+")].turns == 2
    assert by[("model", "b:n")].turns == 1
    assert by[("all", "all")].ttft_p90_ns == 900_000_000
    table = format_table(rows)
    assert table.splitlines()[0].split()[:5] == ["group", "value", "turns", "p50", "p90"]
    assert "85%" in table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/new", Command("new", "")),
        ("  /model fast ", Command("model", "fast")),
        ("/model@HearthBot openai:gpt-5", Command("model", "openai:gpt-5")),
        ("/STATS", Command("stats", "")),
        ("/help me", Command("help", "me")),
        ("/unknown", None),
        ("hello /new", None),
        ("", None),
    ],
)
def test_parse_command(text: str, expected: Command | None) -> None:
    assert parse_command(text) == expected

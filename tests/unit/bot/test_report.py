"""``hearth stats --html`` from a seeded store: the page is self-contained and its charts carry the
figures of the stored turns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent.messages import ChatMessage, TextBlock, Usage
from bot.cli import main
from bot.stats import SEGMENTS, percentile
from bot.store.base import Segments, SessionRecord, TurnRecord
from bot.store.sqlite import SqliteStore

DAY0 = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
MS = 1_000_000


@dataclass
class Mark:
    """One chart mark (bar, segment, point) and its data attributes."""

    figure: str
    kind: str
    data: dict[str, str]


@dataclass
class Page(HTMLParser):
    """The figures of the report, the SVGs in them and their marks."""

    figures: dict[str, int] = field(default_factory=dict)  # figure id → number of <svg>
    marks: list[Mark] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    _figure: str = ""

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        attributes = {k: v or "" for k, v in attrs}
        if tag == "figure":
            self._figure = attributes.get("id", "")
            self.figures[self._figure] = 0
        elif tag == "svg" and self._figure:
            self.figures[self._figure] += 1
        elif attributes.get("class") in ("bar", "segment", "point"):
            data = {k[5:]: v for k, v in attributes.items() if k.startswith("data-")}
            self.marks.append(Mark(self._figure, attributes["class"], data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = ""

    def of(self, figure: str, **where: str) -> list[Mark]:
        return [
            m
            for m in self.marks
            if m.figure == figure and all(m.data.get(k) == v for k, v in where.items())
        ]


def seeded_turns() -> list[TurnRecord]:
    """Telegram and Discord turns over three days, warm and cold, first and continued."""
    # (platform, ttft ms, warm, ordinal, day, input, cache read)
    plan = [
        ("telegram", 300, False, 1, 0, 1000, 0),
        ("telegram", 700, True, 2, 0, 1200, 900),
        ("telegram", 650, True, 3, 1, 1400, 1200),
        ("telegram", 2500, False, 1, 1, 1000, 0),
        ("telegram", 450, True, 2, 2, 1300, 1000),
        ("discord", 1200, False, 1, 0, 800, 0),
        ("discord", 900, True, 2, 1, 900, 700),
        ("discord", 20000, True, 3, 2, 1000, 800),
    ]
    turns = []
    for n, (platform, ttft, warm, ordinal, day, prompt, read) in enumerate(plan):
        # The segments add up to the TTFT; the model takes the most.
        segments = Segments(
            queue=MS, session=(2 if warm else 40) * MS, prepare=5 * MS, model=0, deliver=50 * MS
        )
        segments = Segments(
            segments.queue,
            segments.session,
            segments.prepare,
            ttft * MS - segments.ttft,
            segments.deliver,
        )
        turns.append(
            TurnRecord(
                id=f"t{n}",
                session_id=f"{platform}-{day}",
                ordinal=ordinal,
                platform=platform,
                profile="default",
                model="anthropic:claude",
                warm=warm,
                status="ok",
                created_at=DAY0 + timedelta(days=day, minutes=n),
                segments=segments,
                total_ns=ttft * MS * 2,
                usage=Usage(prompt, 50, read, 0),
            )
        )
    failed = TurnRecord(
        id="failed",
        session_id="telegram-2",
        ordinal=4,
        platform="telegram",
        profile="default",
        model="anthropic:claude",
        warm=True,
        status="failed",
        created_at=DAY0 + timedelta(days=2, hours=1),
        segments=None,
        total_ns=5 * MS,
    )
    return [*turns, failed]


async def seed(path: Path, turns: list[TurnRecord]) -> None:
    async with SqliteStore(path) as store:
        for session in sorted({t.session_id for t in turns}):
            await store.create_session(SessionRecord(session, f"x:{session}:c:", DAY0))
        for turn in turns:
            said = (ChatMessage.user_text("hi"), ChatMessage("assistant", (TextBlock("ok"),)))
            await store.record_turn(turn, said)


def run_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Page]:
    config = tmp_path / "hearth.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    out = tmp_path / "report.html"
    code = main(["-c", str(config), "stats", "--html", str(out)])
    html = out.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    return code, capsys.readouterr().out, page


def test_report_has_every_chart_with_the_figures_of_the_stored_turns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = seeded_turns()
    asyncio.run(seed(tmp_path / "data" / "hearth.db", turns))
    code, printed, page = run_stats(tmp_path, capsys)

    assert code == 0
    assert f"wrote {tmp_path / 'report.html'}" in printed
    assert "telegram" in printed  # the terminal table is still printed
    charts = ["ttft-distribution", "segment-medians", "warm-cold", "turn-ordinal", "cache-share"]
    assert all(page.figures.get(name) == 1 for name in charts), page.figures
    assert "table" in page.figures

    timed = [t for t in turns if t.segments is not None]
    # TTFT distribution: each channel's bars count its answered turns, bin by bin.
    for channel in ("telegram", "discord"):
        bars = page.of("ttft-distribution", series=channel)
        counts = {b.data["category"]: int(b.data["count"]) for b in bars}
        assert sum(counts.values()) == sum(1 for t in timed if t.platform == channel)
    telegram = {
        b.data["category"]: int(b.data["count"])
        for b in page.of("ttft-distribution", series="telegram")
    }
    assert telegram["0.25–0.5 s"] == 2 and telegram["0.5–1 s"] == 2 and telegram["2–4 s"] == 1
    assert page.of("ttft-distribution", series="discord", category="≥16 s")[0].data["count"] == "1"

    # Stacked medians: the "all turns" bar is the per-segment median of every answered turn.
    for segment in SEGMENTS:
        [mark] = page.of("segment-medians", row="all turns", part=segment)
        median = percentile([getattr(t.segments, segment) for t in timed if t.segments], 0.5)
        assert float(mark.data["value"]) == pytest.approx((median or 0) / 1e9, rel=1e-5)
    rows = {m.data["row"] for m in page.of("segment-medians")}
    assert rows >= {
        "all turns",
        "telegram",
        "discord",
        "warm session",
        "cold session",
        "turn 1",
        "turn 2+",
    }

    # Warm vs cold and turn 1 vs 2+: p50 and p90 from the stored TTFTs.
    for figure, category, pick in (
        ("warm-cold", "warm", lambda t: t.warm),
        ("warm-cold", "cold", lambda t: not t.warm),
        ("turn-ordinal", "1", lambda t: t.ordinal == 1),
        ("turn-ordinal", "2+", lambda t: t.ordinal > 1),
    ):
        ttfts = [t.ttft_ns or 0 for t in timed if pick(t)]
        for name, fraction in (("p50", 0.5), ("p90", 0.9)):
            [bar] = page.of(figure, series=name, category=category)
            assert float(bar.data["value"]) == pytest.approx(
                (percentile(ttfts, fraction) or 0) / 1e9
            )
            assert bar.data["count"] == str(sum(1 for t in turns if pick(t)))

    # Cache-read share per day.
    points = {p.data["category"]: float(p.data["value"]) for p in page.of("cache-share")}
    for day in range(3):
        mine = [t for t in turns if t.created_at.date() == (DAY0 + timedelta(days=day)).date()]
        share = sum(t.usage.cache_read_tokens for t in mine) / sum(
            t.usage.input_tokens for t in mine
        )
        assert points[f"{DAY0 + timedelta(days=day):%Y-%m-%d}"] == pytest.approx(share, rel=1e-5)

    # Self-contained: nothing is loaded from elsewhere.
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not page.tags & {"script", "link", "img", "iframe"}
    assert html.count("http") == html.count('xmlns="http://www.w3.org/2000/svg"')


def test_report_of_an_empty_store_says_there_is_nothing_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed, page = run_stats(tmp_path, capsys)
    assert code == 0
    assert "no turns stored yet" in printed
    assert page.marks == []
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("No turns with a visible answer yet.") == 5

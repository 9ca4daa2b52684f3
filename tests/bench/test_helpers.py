"""Pure pieces of the benchmarks: percentiles, the docs splice, the turn/call join, the slope."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from agent.messages import Usage
from bench.model_server import ProviderCall, ReplyShape
from bench.prompts import naive_request, question
from bench.service import join, tag
from bench.soak import slope
from bench.suite import DocsError, replace_block
from bench.summary import Summary, percentile
from bot.store.base import Segments, TurnRecord
from tests.fakes.latency import SimulatedCall, label_of
from tests.fakes.script import Text


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([5.0], 99, 5.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.5), ([1.0, 2.0, 3.0], 100, 3.0),
     (list(map(float, range(101))), 90, 90.0), ([3.0, 1.0, 2.0], 0, 1.0)],
)  # fmt: skip
def test_percentile_interpolates_between_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_summary_of_nothing_is_marked_empty_not_zero() -> None:
    empty = Summary.of([])
    assert empty.n == 0 and math.isnan(empty.p50)
    assert empty.as_dict()["p50"] is None  # JSON has no NaN
    assert empty.cell() == "n/a"
    assert Summary.of([1.0, 3.0]).cell(1) == "2.0 / 2.8 / 3.0"


def test_a_table_replaces_only_its_own_block() -> None:
    doc = (
        "# Perf\n<!-- bench:overhead -->\nold\n<!-- /bench:overhead -->\n"
        "<!-- bench:capacity -->\nkeep\n<!-- /bench:capacity -->\n"
    )
    out = replace_block(doc, "overhead", "| new |\n")
    assert "| new |" in out and "old" not in out and "keep" in out
    with pytest.raises(DocsError, match="bench:delivery"):
        replace_block(doc, "delivery", "x")


def test_labels_come_from_the_tag_of_the_last_user_text() -> None:
    body = {"messages": [{"role": "user", "content": question(tag("t7", 3))}]}
    assert label_of(body) == "[t7#3]"
    assert label_of({"messages": [{"role": "user", "content": "no tag here"}]}) == "no tag here"
    assert label_of({"messages": []}) == ""


def test_replies_are_deterministic_and_cut_into_deltas() -> None:
    shape = ReplyShape(chars=100, delta_chars=16)
    first, again = shape.reply("[a#1]"), shape.reply("[a#1]")
    assert first == again
    (text,) = first.parts
    assert isinstance(text, Text)
    assert len(text.deltas()) == math.ceil(len(text.text) / 16)


def _turn(session: str, ordinal: int, model_ns: int) -> TurnRecord:
    return TurnRecord(
        id=f"{session}-{ordinal}",
        session_id=session,
        ordinal=ordinal,
        platform="telegram",
        profile="default",
        model="anthropic:claude-bench",
        warm=ordinal > 1,
        status="ok",
        created_at=datetime.now(UTC),
        segments=Segments(queue=100, session=10, prepare=200, model=model_ns, deliver=5),
        total_ns=0,
        usage=Usage(input_tokens=1000, cache_read_tokens=900),
    )


def test_turns_join_their_provider_calls_and_overhead_excludes_the_provider() -> None:
    received = 1_000_000
    sent = received + 100 + 10 + 200
    call = ProviderCall(
        SimulatedCall("[t0#2]", 100, 900, 0.3, 0.3004, until_ns=sent + 300_500_000),
        arrived_ns=sent + 400_000,
    )
    stray = ProviderCall(SimulatedCall("[t9#9]", 1, 1, 0.1, 0.1), 0)
    samples = join(
        [_turn("s0", 2, model_ns=301_000_000), _turn("s1", 2, model_ns=5)],
        [call, stray],
        {"s0": "t0"},
        {("t0", 2): received},
    )
    (sample,) = samples  # s1 has no thread, [t9#9] no turn
    assert sample.held == 300_100_000
    assert sample.to_provider == 400_000 and sample.from_provider == 500_000
    assert sample.overhead == sample.ttft - sample.held
    assert sample.model_overhead == sample.to_provider + sample.from_provider
    assert sample.cache_share == pytest.approx(0.9)


def test_the_naive_prompt_puts_volatile_data_before_the_instructions() -> None:
    request = naive_request(
        model="m",
        instructions="Be brief.",
        tools=(),
        transcript=(),
        text="[n0#1] hi",
        now=datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        context={"channel": "telegram"},
        cache_key="n0",
        cache_ttl="5m",
        max_output_tokens=16,
    )
    assert request.system.startswith("time: 2026-11-21T09:00:00")
    assert request.system.index("Be brief.") > request.system.index("time:")
    assert request.messages[-1].text == "[n0#1] hi"


def test_slope_of_a_line_and_of_a_flat_series() -> None:
    assert slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert slope([(0, 7.0), (10, 7.0)]) == 0.0
    assert slope([(5, 1.0)]) == 0.0

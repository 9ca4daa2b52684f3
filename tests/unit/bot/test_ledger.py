"""The delivery ledger: written when a message exists, throttled while streaming, final with the
turn, and what recovery reads back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.messages import ChatMessage, TextBlock
from bot.inbox import Inbox, ref_of
from bot.ledger import Ledger
from bot.store.base import SessionRecord, TurnRecord
from bot.store.sqlite import SqliteStore
from channels.base import Author, InboundMessage, SessionKey

KEY = SessionKey("telegram", "7", "-100", "")


def message(ident: str) -> InboundMessage:
    return InboundMessage(KEY, ident, Author("u", "Ann"), f"question {ident}", received_ns=0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_writes_follow_messages_and_the_interval_and_end_with_the_turn(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with SqliteStore(tmp_path / "h.db") as store:
        inbox = Inbox(store)
        batch = [message("1"), message("2")]
        for m in batch:
            assert await inbox.accept(m)
        ledger = Ledger(store, snapshot_interval=1.0, monotonic=clock)
        tracker = ledger.track("turn-1", batch)

        await tracker.progress(["Hel"])  # only a draft so far: nothing to finalise later
        assert ledger.writes == 0
        tracker.posted("41")
        await tracker.progress(["Hel", "lo"])
        await tracker.progress(["Hel", "lo", " there"])  # within the interval: not written
        assert ledger.writes == 1
        [row] = (await store.deliveries(["turn-1"])).values()
        assert (row.state, row.message_ids, row.text) == ("streaming", ("41",), "Hello")
        assert {e.turn_id for e in await inbox.pending()} == {"turn-1"}

        clock.now += 1.5
        await tracker.progress(["Hel", "lo", " there"])
        tracker.posted("42")  # a second message of a long answer: written at once
        clock.now += 0.1
        await tracker.progress(["Hel", "lo", " there", "!"])
        assert ledger.writes == 3
        await tracker.finishing("Hello there!", "⏱ 0.50 s to first token")
        row = (await store.deliveries(["turn-1"]))["turn-1"]
        assert (row.state, row.message_ids, row.tail) == (
            "finishing",
            ("41", "42"),
            "⏱ 0.50 s to first token",
        )

        session = SessionRecord("s1", str(KEY), datetime.now(UTC))
        await store.create_session(session)
        turn = TurnRecord("turn-1", "s1", 1, "telegram", "default", "m", False, "ok",
                          datetime.now(UTC), None, 0)  # fmt: skip
        answer = ChatMessage("assistant", (TextBlock("Hello there!"),))
        said = (ChatMessage.user_text("question 2"), answer)
        await store.record_delivered_turn(
            turn, said, settled=[ref_of(m) for m in batch], delivery=tracker.final("Hello there!")
        )
        assert (await store.deliveries(["turn-1"]))["turn-1"].state == "final"
        assert await inbox.pending() == []
        assert [t.id for t in await store.turns()] == ["turn-1"]

"""The inbox: payloads survive a restart, refusals are settled, failed hand-overs stay pending."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from bot.inbox import Inbox, decode, encode
from bot.pipeline import DurableDedupe, compose
from bot.store.sqlite import SqliteStore
from channels.base import Author, InboundMessage, SessionKey


def message(ident: str, text: str = "hi") -> InboundMessage:
    return InboundMessage(
        key=SessionKey("slack", "T1", "C1", "170.1"),
        message_id=ident,
        author=Author("U1", 'Ann: the "boss"', is_bot=False),
        text=text,
        received_ns=123,
        event_time=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        is_direct=False,
        mentioned=True,
        parent="C0",
    )


def test_a_message_round_trips_through_its_payload_with_a_new_receive_stamp() -> None:
    original = message("170.2", "ünïcode & <tags>\nand lines")
    restored = decode(encode(original), received_ns=999)
    assert restored == dataclasses.replace(original, received_ns=999)


async def test_the_dedupe_keeps_the_accepted_settles_the_refused_and_keeps_failures(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        inbox = Inbox(store, wall_ns=iter(range(1, 100)).__next__)
        handed: list[str] = []

        async def lane(m: InboundMessage) -> None:
            if m.text == "refuse":
                return  # e.g. the rate limit said no
            if m.text == "closing":
                raise RuntimeError("intake closed")
            handed.append(m.message_id)
            inbox.hand_over(m)

        handler = compose([DurableDedupe(inbox)], lane)
        await handler(message("1"))
        await handler(message("1"))  # a duplicate
        await handler(message("2", "refuse"))
        with contextlib.suppress(RuntimeError):
            await handler(message("3", "closing"))
        pending = await inbox.pending()
        assert handed == ["1"]
        assert [e.ref.message_id for e in pending] == ["1", "3"]  # oldest first
        assert decode(pending[0].payload, 0).text == "hi"
        await inbox.settle([message("1")])
        assert [e.ref.message_id for e in await inbox.pending()] == ["3"]
    async with SqliteStore(tmp_path / "h.db") as store:  # it survives a restart
        inbox = Inbox(store)
        assert [e.ref.message_id for e in await inbox.pending()] == ["3"]
        assert not await inbox.accept(message("2"))  # settled ids still deduplicate

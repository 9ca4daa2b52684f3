"""The inbound pipeline: bots ignored, durable dedupe across restarts (access: test_access.py)."""

from __future__ import annotations

from pathlib import Path

from bot.inbox import Inbox
from bot.pipeline import DurableDedupe, compose, ignore_bots
from bot.store.sqlite import SqliteStore
from channels.base import Author, InboundMessage, SessionKey


def message(
    text: str = "hi",
    *,
    ident: str = "1",
    direct: bool = True,
    mentioned: bool = False,
    bot: bool = False,
    platform: str = "telegram",
) -> InboundMessage:
    return InboundMessage(
        key=SessionKey(platform, "b", "chat"),
        message_id=ident,
        author=Author("u", "user", is_bot=bot),
        text=text,
        received_ns=0,
        is_direct=direct,
        mentioned=mentioned,
    )


async def test_bots_are_ignored_and_duplicates_dropped_across_restarts(tmp_path: Path) -> None:
    seen: list[str] = []

    async def endpoint(m: InboundMessage) -> None:
        seen.append(m.message_id)

    async with SqliteStore(tmp_path / "h.db") as store:
        handler = compose([ignore_bots, DurableDedupe(Inbox(store))], endpoint)
        await handler(message(ident="1"))
        await handler(message(ident="1"))
        await handler(message(ident="2", bot=True))
        await handler(message(ident="3"))
    async with SqliteStore(tmp_path / "h.db") as store:  # a restart replays an old event
        handler = compose([ignore_bots, DurableDedupe(Inbox(store))], endpoint)
        await handler(message(ident="3"))
        await handler(message(ident="4"))
    assert seen == ["1", "3", "4"]

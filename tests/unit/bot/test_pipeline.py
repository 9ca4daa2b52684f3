"""The inbound pipeline: bots ignored, group mention gate, durable dedupe across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.pipeline import DurableDedupe, MentionGate, compose, ignore_bots
from bot.store.sqlite import SqliteStore
from channels.base import Author, InboundMessage, SessionKey
from config.settings import parse_settings


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


@pytest.mark.parametrize(
    ("group", "direct", "mentioned", "passes"),
    [
        ("mention", True, False, True),
        ("mention", False, False, False),
        ("mention", False, True, True),
        ("open", False, False, True),
        ("off", False, True, False),
        ("off", True, False, True),
    ],
)
async def test_mention_gate(group: str, direct: bool, mentioned: bool, passes: bool) -> None:
    seen: list[InboundMessage] = []

    async def endpoint(m: InboundMessage) -> None:
        seen.append(m)

    settings = parse_settings({"access": {"group": group}})
    handler = compose([MentionGate(settings)], endpoint)
    await handler(message(direct=direct, mentioned=mentioned))
    assert bool(seen) is passes


async def test_a_channel_may_override_the_group_policy() -> None:
    seen: list[InboundMessage] = []

    async def endpoint(m: InboundMessage) -> None:
        seen.append(m)

    settings = parse_settings(
        {
            "access": {"group": "off"},
            "channels": {"telegram": {"token": "t", "access": {"group": "open"}}},
        }
    )
    handler = compose([MentionGate(settings)], endpoint)
    await handler(message(direct=False, platform="telegram"))
    await handler(message(direct=False, platform="discord", ident="2"))
    assert [m.key.platform for m in seen] == ["telegram"]


async def test_bots_are_ignored_and_duplicates_dropped_across_restarts(tmp_path: Path) -> None:
    seen: list[str] = []

    async def endpoint(m: InboundMessage) -> None:
        seen.append(m.message_id)

    async with SqliteStore(tmp_path / "h.db") as store:
        handler = compose([ignore_bots, DurableDedupe(store)], endpoint)
        await handler(message(ident="1"))
        await handler(message(ident="1"))
        await handler(message(ident="2", bot=True))
        await handler(message(ident="3"))
    async with SqliteStore(tmp_path / "h.db") as store:  # a restart replays an old event
        handler = compose([ignore_bots, DurableDedupe(store)], endpoint)
        await handler(message(ident="3"))
        await handler(message(ident="4"))
    assert seen == ["1", "3", "4"]

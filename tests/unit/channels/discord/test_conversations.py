"""The one function that decides a Discord message's session, and the text it hands on."""

from __future__ import annotations

import pytest

from channels.base import SessionKey
from channels.discord.conversations import (
    MessageFacts,
    Placement,
    place,
    strip_mentions,
    thread_key,
    thread_name,
)


def key(scope: str, chat: str) -> SessionKey:
    return SessionKey("discord", scope, chat)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # A DM channel is one session, always addressed to the bot.
        (MessageFacts(None, "D1"), Placement(key("dm", "D1"), direct=True, addressed=True)),
        # An @mention in a guild text channel opens a thread (the channel key is the fallback).
        (
            MessageFacts("G1", "C1", threads_allowed=True, mentions_bot=True),
            Placement(key("G1", "C1"), direct=False, addressed=True, open_thread=True),
        ),
        # No mention: the channel, not addressed (the mention gate drops it).
        (
            MessageFacts("G1", "C1", threads_allowed=True),
            Placement(key("G1", "C1"), direct=False, addressed=False),
        ),
        # Another bot mentioning us opens nothing.
        (
            MessageFacts("G1", "C1", threads_allowed=True, mentions_bot=True, from_bot=True),
            Placement(key("G1", "C1"), direct=False, addressed=True),
        ),
        # A channel where threads cannot start (e.g. a voice channel's chat): answer in place.
        (
            MessageFacts("G1", "V1", mentions_bot=True),
            Placement(key("G1", "V1"), direct=False, addressed=True),
        ),
        # Inside the bot's thread, follow-ups need no mention.
        (
            MessageFacts("G1", "T1", in_thread=True, bot_in_thread=True),
            Placement(key("G1", "T1"), direct=False, addressed=True),
        ),
        # Someone else's thread: only a mention addresses the bot, and no new thread opens.
        (
            MessageFacts("G1", "T2", in_thread=True),
            Placement(key("G1", "T2"), direct=False, addressed=False),
        ),
        (
            MessageFacts("G1", "T2", in_thread=True, mentions_bot=True, threads_allowed=True),
            Placement(key("G1", "T2"), direct=False, addressed=True),
        ),
    ],
)
def test_place(facts: MessageFacts, expected: Placement) -> None:
    assert place(facts) == expected


def test_thread_key_is_the_thread_in_its_guild() -> None:
    assert thread_key("G1", "T9") == SessionKey("discord", "G1", "T9", "")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<@42> hello", "hello"),
        ("<@!42> hello", "hello"),
        ("hey <@42> how are you", "hey how are you"),
        ("<@42>", ""),
        ("ping <@43> for me <@42>", "ping <@43> for me"),
        ("<@42>\nfirst line\nsecond", "first line\nsecond"),
    ],
)
def test_strip_mentions_removes_only_the_bot(content: str, expected: str) -> None:
    assert strip_mentions(content, 42) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is a monad?\nAsking for a friend.", "What is a monad?"),
        ("  lots   of   space  ", "lots of space"),
        ("", "Conversation"),
        ("x" * 150, "x" * 99 + "…"),
    ],
)
def test_thread_name_is_the_first_line_within_100_characters(text: str, expected: str) -> None:
    name = thread_name(text)
    assert name == expected
    assert 1 <= len(name) <= 100

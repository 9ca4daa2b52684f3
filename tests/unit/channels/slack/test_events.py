"""Slack events → our messages: the session key, addressing, and what is not a turn."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from channels.base import SessionKey
from channels.slack.events import BotIdentity, normalize, plain_text

BOT = BotIdentity(user_id="U0BOT", bot_id="B0BOT", team_id="T0HOME")
BODY = {"team_id": "T1", "type": "event_callback"}


def event(**fields: Any) -> dict[str, Any]:
    base = {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
            "text": "hello", "ts": "1700000000.000100"}  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "key", "direct", "mentioned", "thread_reply"),
    [
        ({}, SessionKey("slack", "T1", "C1", "1700000000.000100"), False, False, False),
        ({"text": "<@U0BOT> hi"}, SessionKey("slack", "T1", "C1", "1700000000.000100"), False,
         True, False),
        ({"type": "app_mention", "text": "<@U0BOT> hi", "channel_type": None},
         SessionKey("slack", "T1", "C1", "1700000000.000100"), False, True, False),
        ({"thread_ts": "1699999999.000001"}, SessionKey("slack", "T1", "C1", "1699999999.000001"),
         False, False, True),
        ({"channel": "D1", "channel_type": "im"}, SessionKey("slack", "T1", "D1",
         "1700000000.000100"), True, True, False),
        ({"channel": "D1", "channel_type": "im", "thread_ts": "1699999999.000001"},
         SessionKey("slack", "T1", "D1", "1699999999.000001"), True, True, True),
        ({"channel": "G1", "channel_type": "mpim"}, SessionKey("slack", "T1", "G1",
         "1700000000.000100"), False, False, False),
        ({"subtype": "thread_broadcast", "thread_ts": "1699999999.000001"},
         SessionKey("slack", "T1", "C1", "1699999999.000001"), False, False, True),
    ],
)  # fmt: skip
def test_the_thread_is_the_session_and_dms_and_mentions_are_addressed(
    fields: dict[str, Any], key: SessionKey, direct: bool, mentioned: bool, thread_reply: bool
) -> None:
    found = normalize(BODY, {k: v for k, v in event(**fields).items() if v is not None}, BOT, 7)

    assert found is not None
    message = found.message
    assert (message.key, message.is_direct, message.mentioned) == (key, direct, mentioned)
    assert found.thread_reply is thread_reply
    assert found.thread_ts == key.thread
    assert message.message_id == "1700000000.000100"
    assert message.received_ns == 7
    assert message.event_time == datetime.fromtimestamp(1700000000.0001, UTC)


def test_an_app_mention_and_its_message_event_normalize_to_the_same_message() -> None:
    as_message = normalize(BODY, event(text="<@U0BOT> hi"), BOT, 1)
    as_mention = normalize(
        BODY, {"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@U0BOT> hi",
               "ts": "1700000000.000100"}, BOT, 2)  # fmt: skip

    assert as_message is not None and as_mention is not None
    first, second = as_message.message, as_mention.message
    assert (first.key, first.message_id, first.text, first.mentioned) == (
        second.key, second.message_id, second.text, second.mentioned)  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "bot_message"},
        {"type": "reaction_added"},
        {"text": "   "},
        {"user": None},
        {"ts": None},
    ],
)
def test_what_is_not_a_person_writing_is_not_a_message(fields: dict[str, Any]) -> None:
    data = {k: v for k, v in event(**fields).items() if v is not None}

    assert normalize(BODY, data, BOT, 1) is None


def test_bots_are_marked_so_the_pipeline_drops_them() -> None:
    other_bot = normalize(BODY, event(bot_id="B0OTHER", text="<@U0BOT> hi"), BOT, 1)
    itself = normalize(BODY, event(user="U0BOT"), BOT, 1)

    assert other_bot is not None and other_bot.message.author.is_bot
    assert itself is not None and itself.message.author.is_bot


def test_the_workspace_comes_from_the_envelope_then_the_event_then_the_bot() -> None:
    from_event = normalize({}, event(team="T2"), BOT, 1)
    from_bot = normalize({}, event(), BOT, 1)

    assert from_event is not None and from_event.message.key.scope == "T2"
    assert from_bot is not None and from_bot.message.key.scope == "T0HOME"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0BOT> what is 2 + 2?", "what is 2 + 2?"),
        ("<@U0BOT>, hi", "hi"),
        ("<@U0BOT|hearth>: hi there", "hi there"),
        ("hey <@U0BOT> look", "hey look"),
        ("ask <@U2|ann> about <#C9|general>", "ask @ann about #general"),
        ("ask <@U2>", "ask @U2"),
        ("<!here> and <!subteam^S1|@devs>", "@here and @devs"),
        ("see <https://x.org/a?b=1&amp;c=2|the docs>", "see the docs (https://x.org/a?b=1&c=2)"),
        ("see <https://x.org>", "see https://x.org"),
        ("mail <mailto:a@b.org|a@b.org>", "mail a@b.org"),
        ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
        ("literally &amp;lt;", "literally &lt;"),
    ],
)
def test_slack_text_reads_as_written_without_the_bot_mention(text: str, expected: str) -> None:
    assert plain_text(text, "U0BOT") == expected


def test_a_display_name_from_the_profile_is_kept() -> None:
    found = normalize(BODY, event(user_profile={"display_name": "Ann"}), BOT, 1)

    assert found is not None and found.message.author.name == "Ann"

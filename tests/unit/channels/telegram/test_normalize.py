"""Telegram updates become InboundMessages: session keys, mentions, commands, bots."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from channels.base import SessionKey
from channels.telegram.normalize import BotIdentity, normalize
from tests.fakes.telegram import BOT_ID, BOT_USERNAME, FakeTelegram, SentMessage

BOT = BotIdentity(BOT_ID, BOT_USERNAME)
SCOPE = str(BOT_ID)


def update_for(fake: FakeTelegram, chat_id: int, text: str, **options: Any) -> Update:
    """The update the fake would deliver for this user message (no server needed)."""
    update_id = fake.user_message(chat_id, text, **options)
    return Update.de_json(fake.updates[update_id], None)


@pytest.mark.parametrize(
    ("chat_id", "options", "key", "direct"),
    [
        (555, {}, SessionKey("telegram", SCOPE, "555", ""), True),
        (555, {"thread_id": 9}, SessionKey("telegram", SCOPE, "555", "9"), True),
        (-100, {"chat_type": "group"}, SessionKey("telegram", SCOPE, "-100", ""), False),
        (-1001, {"chat_type": "supergroup"}, SessionKey("telegram", SCOPE, "-1001", ""), False),
        (
            -1002,
            {"chat_type": "supergroup", "thread_id": 77},
            SessionKey("telegram", SCOPE, "-1002", "77"),
            False,
        ),
    ],
)
def test_one_session_per_chat_or_topic(
    chat_id: int, options: dict[str, Any], key: SessionKey, direct: bool
) -> None:
    message = normalize(update_for(FakeTelegram(), chat_id, "hello", **options), BOT, 42)

    assert message is not None
    assert (message.key, message.is_direct, message.received_ns) == (key, direct, 42)


def test_a_reply_thread_outside_a_forum_is_not_a_session() -> None:
    # Supergroup replies carry message_thread_id without being topic messages.
    fake = FakeTelegram()
    data = fake.updates[fake.user_message(-1001, "hi", chat_type="supergroup")]
    data["message"]["message_thread_id"] = 5
    message = normalize(Update.de_json(data, None), BOT, 0)

    assert message is not None and message.key.thread == ""


@pytest.mark.parametrize(
    ("text", "options", "mentioned", "cleaned"),
    [
        ("just chatting", {}, False, "just chatting"),
        (f"@{BOT_USERNAME} what's up?", {}, True, "what's up?"),
        (f"@{BOT_USERNAME.lower()}, hi", {}, True, "hi"),
        (f"tell me, @{BOT_USERNAME}, a joke", {}, True, "tell me, a joke"),
        ("@SomeoneElse hi", {}, False, "@SomeoneElse hi"),
        ("/help", {}, True, "/help"),
        (f"/model@{BOT_USERNAME} fast", {}, True, "/model fast"),
        ("/model@OtherBot fast", {}, False, "/model@OtherBot fast"),
        ("an answer to the bot", {"reply_to_bot": True}, True, "an answer to the bot"),
        (
            "Hearth, hi",
            {
                "entities": [
                    {
                        "type": "text_mention",
                        "offset": 0,
                        "length": 6,
                        "user": {"id": BOT_ID, "is_bot": True, "first_name": "Hearth"},
                    }
                ]
            },
            True,
            "hi",
        ),
        (
            f"/new@{BOT_USERNAME} now",
            {
                "entities": [
                    {"type": "bot_command", "offset": 0, "length": 18},
                    {"type": "mention", "offset": 4, "length": 14},
                ]
            },
            True,
            "/new now",
        ),
        # Offsets count UTF-16 units: the emoji before the mention takes two.
        (f"😀 @{BOT_USERNAME} hi", {}, True, "😀 hi"),
    ],
)
def test_mentions_replies_and_commands_address_the_bot_in_groups(
    text: str, options: dict[str, Any], mentioned: bool, cleaned: str
) -> None:
    fake = FakeTelegram()
    if options.get("reply_to_bot"):
        fake.user_message(-100, "hi", chat_type="group")
        fake.messages.append(_bot_message(-100))
    message = normalize(update_for(fake, -100, text, chat_type="group", **options), BOT, 0)

    assert message is not None
    assert (message.mentioned, message.text) == (mentioned, cleaned)


def test_a_topic_message_does_not_count_as_a_reply_to_the_bot() -> None:
    # Every forum-topic message "replies" to the topic's creation message.
    fake = FakeTelegram()
    data = fake.updates[fake.user_message(-1002, "hi all", chat_type="supergroup", thread_id=7)]
    data["message"]["reply_to_message"]["from"] = {"id": BOT_ID, "is_bot": True, "first_name": "H"}
    message = normalize(Update.de_json(data, None), BOT, 0)

    assert message is not None and not message.mentioned


def test_direct_messages_are_always_addressed_and_bots_are_flagged() -> None:
    fake = FakeTelegram()
    human = normalize(update_for(fake, 555, "hi"), BOT, 0)
    robot = normalize(update_for(fake, -100, "beep", chat_type="group", from_bot=True), BOT, 0)

    assert human is not None and human.mentioned and not human.author.is_bot
    assert human.author.id == "555" and human.message_id == "1"
    assert human.event_time is not None
    assert robot is not None and robot.author.is_bot


def test_updates_without_new_text_are_not_messages() -> None:
    fake = FakeTelegram()
    data = fake.updates[fake.user_message(555, "hi")]
    edited = {"update_id": 1, "edited_message": {**data["message"], "edit_date": 1}}
    sticker = {"update_id": 2, "message": {k: v for k, v in data["message"].items() if k != "text"}}

    assert normalize(Update.de_json(edited, None), BOT, 0) is None
    assert normalize(Update.de_json(sticker, None), BOT, 0) is None


def _bot_message(chat_id: int) -> SentMessage:
    return SentMessage(chat_id, 99, None, "earlier answer", "earlier answer", None, None, 0.0)

"""Telegram delivery: long answers, replayed updates, flood control, parse errors, conflicts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_telegram import (
    FOOTER,
    parsed_text,
    running_bot,
    stored_turns,
    telegram_settings,
)
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram
from tests.harness import wait_until

PARAGRAPH = "Tokens & <tags> are text here, and every word must arrive exactly once. " * 6


def long_answer() -> str:
    """6,000 characters of paragraphs, with characters that need escaping."""
    paragraphs = "\n\n".join(f"{i}. {PARAGRAPH.strip()}" for i in range(14))
    return paragraphs[:5999].rstrip() + "."


@pytest.mark.parametrize("chat_type", ["private", "supergroup"])
async def test_a_6000_character_answer_arrives_as_two_valid_messages_with_nothing_lost(
    tmp_path: Path, chat_type: str
) -> None:
    answer = long_answer()
    assert len(answer) == 6000
    chat = 555 if chat_type == "private" else -1007777
    text = "tell me everything" if chat_type == "private" else f"@{BOT_USERNAME} tell me"
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text(answer, chunks=30)))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            telegram.user_message(chat, text, chat_type=chat_type)
            await wait_until(
                lambda: any("to first token" in m.text for m in telegram.bot_messages(chat))
            )

    messages = telegram.bot_messages(chat)
    assert len(messages) == 2
    texts = [parsed_text(m) for m in messages]  # balanced HTML, per html.parser
    assert texts == [m.text for m in messages]  # and per the fake's Telegram-like validator
    assert all(len(t) <= 4096 for t in texts)
    assert re.fullmatch(re.escape(answer) + FOOTER, "".join(texts))
    assert texts[0].endswith("\n\n")  # split at a paragraph boundary
    assert "&lt;tags&gt;" in messages[0].raw and "&amp;" in messages[1].raw


async def test_a_code_block_split_across_messages_stays_a_code_block(tmp_path: Path) -> None:
    lines = [f"    result_{i} = compute({i}) if {i} < limit else None" for i in range(90)]
    answer = "Here is the script:\n\n```python\n" + "\n".join(lines) + "\n```\n\nThat is all."
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text(answer, chunks=10)))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            telegram.user_message(555, "write a script")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 2)

    first, second = telegram.bot_messages(555)
    assert first.raw.count('<pre><code class="language-python">') == 1
    assert second.raw.startswith('<pre><code class="language-python">')
    shown = parsed_text(first) + parsed_text(second)
    expected = "Here is the script:\n\n" + "\n".join(lines) + "\n\nThat is all."
    assert re.fullmatch(re.escape(expected) + FOOTER, shown)


async def test_the_same_update_delivered_twice_gets_one_reply(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Only once.")), Reply(Text("Next one.")))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            first = telegram.user_message(555, "hello")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 1)
            telegram.replay(first)
            # Updates are handled in order: once "next" is answered, the replay was handled too.
            telegram.user_message(555, "next")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 2)
        turns = await stored_turns(settings)

    assert telegram.delivered.count(first) == 2
    assert [m.text.split("\n")[0] for m in telegram.bot_messages(555)] == [
        "Only once.",
        "Next one.",
    ]
    assert len(model.chat_requests()) == 2 and len(turns) == 2


async def test_a_replayed_update_after_a_restart_gets_no_second_reply(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Answered before the restart.")), Reply(Text("After.")))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            first = telegram.user_message(555, "hello")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 1)
        async with running_bot(settings):
            telegram.replay(first)  # e.g. the offset confirmation was lost
            telegram.user_message(555, "after the restart")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 2)

    assert [m.text.split("\n")[0] for m in telegram.bot_messages(555)] == [
        "Answered before the restart.",
        "After.",
    ]
    assert len(model.chat_requests()) == 2


async def test_flood_control_on_the_final_message_delays_then_delivers(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Worth the wait.")))
        telegram.flood("sendMessage", retry_after=0.4)
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            telegram.user_message(555, "hi")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 1)
        [turn] = await stored_turns(settings)

    refused, accepted = telegram.calls_of("sendMessage")
    assert accepted.at - refused.at >= 0.4
    [message] = telegram.bot_messages(555)
    assert message.text.startswith("Worth the wait.")
    assert turn.status == "ok"


async def test_flood_control_on_a_group_post_defers_it_and_the_answer_still_arrives(
    tmp_path: Path,
) -> None:
    group = -1008888
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Deferred but complete.", chunks=4)))
        telegram.flood("sendMessage", retry_after=0.3)
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            telegram.user_message(group, f"@{BOT_USERNAME} hi", chat_type="supergroup")
            await wait_until(
                lambda: any("to first token" in m.text for m in telegram.bot_messages(group))
            )

    calls = telegram.calls_of("sendMessage")
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 0.3
    [message] = telegram.bot_messages(group)
    assert message.text.startswith("Deferred but complete.")


async def test_html_telegram_cannot_parse_falls_back_to_plain_text(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Some **bold** claim.")))
        telegram.fail("sendMessage", 400, "Bad Request: can't parse entities: unexpected tag")
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            telegram.user_message(555, "hi")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 1)

    [message] = telegram.bot_messages(555)
    assert message.parse_mode is None
    assert re.fullmatch(re.escape("Some bold claim.") + FOOTER, message.text)


async def test_a_second_poller_conflict_is_retried_and_polling_recovers(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Back in business.")))
        telegram.conflict = True
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            await wait_until(lambda: len(telegram.calls_of("getUpdates")) >= 1)
            telegram.conflict = False
            telegram.user_message(555, "anyone there?")
            await wait_until(lambda: len(telegram.bot_messages(555)) == 1)

    assert telegram.bot_messages(555)[0].text.startswith("Back in business.")

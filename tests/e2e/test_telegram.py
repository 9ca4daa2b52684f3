"""Telegram end to end: the real python-telegram-bot client against the Bot API fake.

DMs stream through drafts and end as one persisted message with the TTFT footer, warm from the
second turn; groups answer only when addressed, through a post and throttled edits; forum topics
are sessions of their own.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from bot.commands import COMMANDS
from bot.runtime import Runtime
from bot.store.base import TurnRecord
from bot.wiring import open_runtime, open_store
from channels.telegram import TelegramChannel
from config import Settings
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram, SentMessage, visible_text
from tests.harness import SteppingClock, settings_for, wait_until

FOOTER = r"\n\n⏱ \d+\.\d\d s to first token"
EDIT_INTERVAL_S = 0.1
TIMINGS = {
    "poll_timeout": "2s",
    "draft_interval": "20ms",
    "edit_interval": f"{int(EDIT_INTERVAL_S * 1000)}ms",
    "typing_interval": "50ms",
}


def telegram_settings(
    tmp_path: Path, model: FakeAnthropic, telegram: FakeTelegram, **options: Any
) -> Settings:
    """Settings for one bot on the fake, DMs open to anyone, fast timings."""
    section = {
        "token": telegram.token,
        "api_base_url": f"{telegram.url}/bot",
        "file_base_url": f"{telegram.url}/file/bot",
        **TIMINGS,
        **options,
    }
    return settings_for(
        tmp_path, anthropic_provider(model), access={"dm": "open"}, channels={"telegram": section}
    )


@dataclass
class Bot:
    """The running service with its Telegram channel."""

    runtime: Runtime
    channel: TelegramChannel
    settings: Settings


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[Bot]:
    """Hearth with a Telegram channel built from ``channels.telegram``."""
    assert settings.channels.telegram is not None
    channel = TelegramChannel(settings.channels.telegram)
    async with open_runtime(settings, [channel], clock=SteppingClock()) as runtime:
        yield Bot(runtime, channel, settings)


async def replies(telegram: FakeTelegram, chat_id: int, count: int) -> None:
    """Wait until the bot has persisted ``count`` messages in ``chat_id``."""
    await wait_until(lambda: len(telegram.bot_messages(chat_id)) >= count)


async def stored_turns(settings: Settings) -> list[TurnRecord]:
    async with open_store(settings) as store:
        return await store.turns()


def draft_texts(fake: FakeTelegram, chat_id: int) -> dict[int, list[str]]:
    """Every text each draft showed, by draft id, in order ("" is the Thinking… placeholder)."""
    shown: dict[int, list[str]] = {}
    for call in fake.calls_of("sendMessageDraft"):
        if call.params["chat_id"] != chat_id:
            continue
        raw = str(call.params.get("text", ""))
        text = visible_text(raw) if call.params.get("parse_mode") == "HTML" else raw
        shown.setdefault(int(call.params["draft_id"]), []).append(text)
    return shown


def model_user_texts(model: FakeAnthropic) -> list[str]:
    """The text of the new user message of each model request."""
    texts = []
    for request in model.chat_requests():
        content = request.json["messages"][-1]["content"]
        texts.append("".join(block.get("text", "") for block in content))
    return texts


class BalancedHtml(HTMLParser):
    """Checks that tags are balanced, independently of the fake's own validator."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed_text(message: SentMessage) -> str:
    """The message's text as html.parser reads it; asserts the HTML is balanced."""
    assert message.parse_mode == "HTML"
    parser = BalancedHtml()
    parser.feed(message.raw)
    parser.close()
    assert parser.stack == [], message.raw
    return "".join(parser.text)


def streamed(*pieces: str, gap_s: float) -> Reply:
    """A model reply whose pieces arrive ``gap_s`` apart."""
    return Reply(*(Text(p, chunks=1, delay=0 if i == 0 else gap_s) for i, p in enumerate(pieces)))


async def test_a_dm_streams_through_drafts_and_ends_as_one_message_per_reply_warm_after_the_first(
    tmp_path: Path,
) -> None:
    answers = [
        ("Hello! ", "I am **Hearth**, ", "glad to help."),
        ("Sure: ", "`x < y` holds ", "& always will."),
        ("Third ", "and last ", "answer."),
    ]
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(*(streamed(*pieces, gap_s=0.06) for pieces in answers))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            for turn, text in enumerate(("hi", "is x < y?", "one more"), start=1):
                telegram.user_message(555, text)
                await replies(telegram, 555, turn)
        turns = await stored_turns(settings)

    visible = [
        "Hello! I am Hearth, glad to help.",
        "Sure: x < y holds & always will.",
        "Third and last answer.",
    ]
    messages = telegram.bot_messages(555)
    assert len(messages) == 3
    for message, answer in zip(messages, visible, strict=True):
        assert re.fullmatch(re.escape(answer) + FOOTER, message.text), message.text
        assert parsed_text(message) == message.text
    assert "<b>Hearth</b>" in messages[0].raw and "<code>x &lt; y</code>" in messages[1].raw

    # Each reply streamed through its own draft: the placeholder, then growing prefixes.
    drafts = list(draft_texts(telegram, 555).values())
    assert len(drafts) == 3
    for shown, answer in zip(drafts, visible, strict=True):
        texts = [t for t in shown if t]
        assert len(texts) >= 2, shown
        assert all(answer.startswith(t) for t in texts), shown
        assert texts == sorted(texts, key=len)
    assert telegram.drafts_in(555) == []  # each draft gave way to its persisted message
    assert [c.params["text"] for c in telegram.calls_of("sendMessageDraft")].count("") >= 1

    assert [t.warm for t in turns] == [False, True, True]
    assert len({t.session_id for t in turns}) == 1
    assert all(t.status == "ok" and t.segments is not None for t in turns)
    menu = [c["command"] for c in telegram.commands]
    assert menu == ["new", "model", "stats", "compact", "reset", "memory", "forget", "help"]
    assert set(menu) == COMMANDS - {"pair"}  # every command but the admins' own


async def test_a_group_answers_only_when_addressed_through_a_post_and_throttled_edits(
    tmp_path: Path,
) -> None:
    group = -1001234
    pieces = [f"Part {i} of a streamed answer. " for i in range(8)]
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script_for("what's up", streamed(*pieces, gap_s=0.05))
        model.script_for("go on", Reply(Text("Going on.")))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            telegram.user_message(group, "just chatting among us", chat_type="supergroup")
            telegram.user_message(
                group, f"@{BOT_USERNAME} beep", chat_type="supergroup", user_id=999, from_bot=True
            )
            asked = telegram.user_message(
                group, f"@{BOT_USERNAME} what's up?", chat_type="supergroup"
            )
            await wait_until(lambda: _final(telegram.bot_messages(group)))
            telegram.user_message(group, "go on", chat_type="supergroup", reply_to_bot=True)
            telegram.user_message(group, f"/help@{BOT_USERNAME}", chat_type="supergroup")
            await wait_until(lambda: len(telegram.bot_messages(group)) == 3)

    first, follow_up, help_text = telegram.bot_messages(group)
    # Neither the unmentioned message nor the other bot's reached the model; the mention was
    # taken out of the text.
    assert len(model.chat_requests()) == 2
    asked_text, follow_up_text = model_user_texts(model)
    assert asked_text.startswith("what's up?")
    assert "just chatting" not in asked_text and "beep" not in asked_text
    assert follow_up_text.startswith("go on")
    # The reply quotes the question, grew through edits and ended with the footer.
    assert first.reply_to == int(telegram.updates[asked]["message"]["message_id"])
    assert re.fullmatch(re.escape("".join(pieces)) + FOOTER, first.text)
    assert first.edits >= 3
    gaps = [b - a for a, b in itertools.pairwise([first.sent_at, *first.edit_times])]
    assert min(gaps) >= EDIT_INTERVAL_S, gaps
    streaming_s = first.edit_times[-1] - first.sent_at
    assert first.edits <= streaming_s / EDIT_INTERVAL_S + 1
    assert (group, None, "typing") in telegram.actions
    assert telegram.calls_of("sendMessageDraft") == []  # drafts exist in private chats only
    assert follow_up.text.startswith("Going on.")
    assert help_text.text.startswith("Commands:") and help_text.parse_mode == "HTML"


def _final(messages: list[SentMessage]) -> bool:
    return bool(messages) and "to first token" in messages[-1].text


async def test_two_forum_topics_are_two_sessions(tmp_path: Path) -> None:
    forum = -1005555
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        for marker in ("first in eleven", "first in twenty-two", "again in eleven"):
            model.script_for(marker, Reply(Text(f"answer to {marker}")))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            for topic, text in ((11, "first in eleven"), (22, "first in twenty-two")):
                telegram.user_message(
                    forum, f"@{BOT_USERNAME} {text}", chat_type="supergroup", thread_id=topic
                )
            await wait_until(lambda: all(_final(telegram.bot_messages(forum, t)) for t in (11, 22)))
            telegram.user_message(
                forum, f"@{BOT_USERNAME} again in eleven", chat_type="supergroup", thread_id=11
            )
            await wait_until(lambda: len(telegram.bot_messages(forum, 11)) == 2)
        turns = await stored_turns(settings)

    eleven, twenty_two = telegram.bot_messages(forum, 11), telegram.bot_messages(forum, 22)
    assert [m.text.split("\n")[0] for m in eleven] == [
        "answer to first in eleven",
        "answer to again in eleven",
    ]
    assert [m.text.split("\n")[0] for m in twenty_two] == ["answer to first in twenty-two"]
    assert telegram.bot_messages(forum) == []  # nothing landed outside the topics
    by_session: dict[str, list[bool]] = {}
    for turn in turns:
        by_session.setdefault(turn.session_id, []).append(turn.warm)
    assert sorted(by_session.values()) == [[False], [False, True]]
    # The second turn in topic 11 carried topic 11's history, and nothing of topic 22.
    history = model.chat_requests()[-1].json["messages"]
    said = " ".join(block.get("text", "") for m in history for block in m["content"])
    assert "first in eleven" in said and "twenty-two" not in said

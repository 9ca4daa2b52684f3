"""Recovery at start for messages left pending by a crash: stale ones get an apology instead of a
stale answer, fresh ones are answered, each in its own conversation."""

from __future__ import annotations

import time
from pathlib import Path

from bot.inbox import Inbox
from bot.recovery import APOLOGY
from bot.wiring import open_store
from channels.base import Author, InboundMessage, SessionKey
from tests.e2e.test_telegram import running_bot, telegram_settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import BOT_ID, FakeTelegram
from tests.harness import wait_until

HOUR_NS = 3600 * 10**9


def dm(chat: int, text: str) -> InboundMessage:
    key = SessionKey("telegram", str(BOT_ID), str(chat))
    return InboundMessage(key, "1", Author(str(chat), "Ann"), text, received_ns=0)


async def test_stale_messages_get_an_apology_and_fresh_ones_an_answer(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Fresh answer.")))
        settings = telegram_settings(tmp_path, model, telegram)
        # A crashed run had accepted both (Telegram hands them out again: they are dropped as
        # duplicates) and answered neither.
        telegram.user_message(601, "asked an hour ago")
        telegram.user_message(602, "asked a moment ago")
        async with open_store(settings) as store:
            stale = Inbox(store, wall_ns=lambda: time.time_ns() - HOUR_NS)
            assert await stale.accept(dm(601, "asked an hour ago"))
            assert await Inbox(store).accept(dm(602, "asked a moment ago"))
        async with running_bot(settings):
            await wait_until(
                lambda: (
                    len(telegram.bot_messages(601)) == 1 and len(telegram.bot_messages(602)) == 1
                )
            )
        async with open_store(settings) as store:
            pending = await store.pending_inbound()

    [apology] = telegram.bot_messages(601)
    assert apology.text == APOLOGY
    [answer] = telegram.bot_messages(602)
    assert answer.text.startswith("Fresh answer.")
    assert len(model.chat_requests()) == 1  # the stale question never reached the model
    assert pending == []

"""Shutdown answers what was already accepted: a message queued behind a running turn is answered
within the grace period, not dropped (Telegram has confirmed it, so nobody would send it again)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.wiring import open_runtime
from channels.telegram import TelegramChannel
from tests.e2e.test_readyz import telegram_settings_with
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import FakeTelegram
from tests.harness import SteppingClock, stored_turns, wait_until

USER = 555


async def test_queued_message_is_answered_during_the_grace_period(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        gate = asyncio.Event()
        model.script(Reply(Text("First answer.", gate=gate)), Reply(Text("Second answer.")))
        settings = telegram_settings_with(
            tmp_path, model, telegram, sessions={"lane_mode": "queue"}, shutdown={"grace": "30s"}
        )
        assert settings.channels.telegram is not None
        channel = TelegramChannel(settings.channels.telegram)
        async with open_runtime(settings, [channel], clock=SteppingClock()) as runtime:
            telegram.user_message(USER, "one")
            await wait_until(lambda: len(model.chat_requests()) == 1)  # held at the gate
            second = telegram.user_message(USER, "two")
            await wait_until(lambda: runtime.queue_depth == 1)  # waiting behind the first turn

            closing = asyncio.create_task(runtime.aclose())
            await wait_until(lambda: not channel.connected)  # polling stopped: shutdown began
            assert telegram.confirmed > second  # Telegram will not deliver it again
            gate.set()
            await asyncio.wait_for(closing, 30)

        texts = [m.text.split("\n")[0] for m in telegram.bot_messages(USER)]
        assert texts == ["First answer.", "Second answer."]
    assert [t.status for t in await stored_turns(settings)] == ["ok", "ok"]

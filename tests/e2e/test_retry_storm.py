"""Retry storms: the same inbound event delivered five times yields one reply.

Slack retries an event whose acknowledgement it missed (``X-Slack-Retry-Num`` over HTTP,
``retry_attempt`` over Socket Mode, the latter in test_crash_slack.py); Telegram hands an update
out again when its confirmation was lost, also after a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.slack_support import answered
from tests.e2e.test_slack_http import http_settings, serving
from tests.e2e.test_telegram import running_bot, stored_turns, telegram_settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.slack import CHANNEL_ID, FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.harness import wait_until

DELIVERIES = 5


async def test_a_slack_event_retried_with_retry_headers_gets_one_reply(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Once.")), Reply(Text("Twice?")))
        async with serving(http_settings(tmp_path, model, slack), slack):
            question = await slack.user_message("are you there?", mention=True)
            bodies = list(slack.bodies)  # app_mention and message: one user message
            # Slack's retries come while the first answer may still be streaming.
            await asyncio.gather(
                *(
                    slack.deliver(body, retry_attempt=attempt, retry_reason="http_timeout")
                    for attempt in range(1, DELIVERIES)
                    for body in bodies
                )
            )
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))
            echo = await slack.user_message("and now?", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, echo.ts, 1))

    assert [r.body for r in slack.bot_replies(CHANNEL_ID, question.ts)] == ["Once."]
    assert len(model.chat_requests()) == 2
    assert set(slack.http_responses) == {200}  # every retry was acknowledged


async def test_a_telegram_update_replayed_after_restarts_gets_one_reply(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Only once.")), Reply(Text("Next.")))
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings):
            first = telegram.user_message(555, "hello")
            telegram.replay(first)
            await wait_until(lambda: len(telegram.bot_messages(555)) == 1)
            await wait_until(lambda: telegram.delivered.count(first) == 2)
        async with running_bot(settings):  # after a restart, three more times
            for _ in range(DELIVERIES - 2):
                telegram.replay(first)
            await wait_until(lambda: telegram.delivered.count(first) == DELIVERIES)
            telegram.user_message(555, "after the restart")  # taken after the replays
            await wait_until(lambda: len(telegram.bot_messages(555)) == 2)
        turns = await stored_turns(settings)

    assert telegram.delivered.count(first) == DELIVERIES
    assert [m.text.split("\n")[0] for m in telegram.bot_messages(555)] == ["Only once.", "Next."]
    assert len(turns) == 2

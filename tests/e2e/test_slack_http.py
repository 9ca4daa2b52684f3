"""Slack in HTTP mode: the Events API endpoint on Hearth's own server, signing secret checked.

The fake posts events signed as Slack signs them; a bad or stale signature gets 401 and no reply,
and the refused body never reaches the logs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.http import HttpServer
from bot.wiring import http_routes, open_runtime
from channels.slack import SlackChannel
from config import Settings
from tests.e2e.slack_support import answered, settings_with
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.slack import BOT_USER_ID, CHANNEL_ID, SIGNING_SECRET, FakeSlack
from tests.harness import SteppingClock, wait_until

EVENTS_PATH = "/slack/events"


@contextlib.asynccontextmanager
async def serving(settings: Settings, slack: FakeSlack) -> AsyncIterator[SlackChannel]:
    """Hearth's HTTP server with the Slack route, and the runtime; the fake posts to it."""
    assert settings.channels.slack is not None
    channel = SlackChannel(settings.channels.slack)
    async with (
        HttpServer("127.0.0.1", 0, http_routes([channel])) as http,
        open_runtime(settings, [channel], clock=SteppingClock()),
    ):
        slack.events_url = f"http://127.0.0.1:{http.port}{EVENTS_PATH}"
        yield channel


def http_settings(tmp_path: Path, model: FakeAnthropic, slack: FakeSlack) -> Settings:
    return settings_with(
        tmp_path, model, slack, mode="http", app_token=None, signing_secret=SIGNING_SECRET
    )


def mention(slack: FakeSlack, text: str, ts: str) -> dict[str, object]:
    """An ``app_mention`` event body for a message the fake did not store (HTTP-only tests)."""
    return slack.event_body({"type": "app_mention", "user": "U0ALICE", "ts": ts,
                             "text": f"<@{BOT_USER_ID}> {text}", "channel": CHANNEL_ID,
                             "event_ts": ts, "team": "T0HEARTH"})  # fmt: skip


async def test_signed_events_are_served_and_badly_signed_ones_refused_unlogged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Served over HTTP.")))
        settings = http_settings(tmp_path, model, slack)
        async with serving(settings, slack) as channel:
            assert channel.connected  # HTTP mode: started and auth.test succeeded
            forged = mention(slack, "FORGED-BODY-MARKER", "1700000001.000001")
            assert (await slack.post_event(forged, secret="not-the-secret"))[0] == 401
            stale = mention(slack, "STALE-BODY-MARKER", "1700000002.000001")
            old = int(time.time()) - 6 * 60  # Slack's window is five minutes
            assert (await slack.post_event(stale, timestamp=old))[0] == 401
            unsigned = await slack.post_event(forged, headers={"X-Slack-Signature": "v0=00"})
            assert unsigned[0] == 401
            question = await slack.user_message("hello", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1))
            # A retry of the same event (X-Slack-Retry-Num) is acknowledged and not answered.
            await slack.deliver(slack.bodies[-1], retry_attempt=1, retry_reason="http_timeout")
            later = await slack.user_message("again", thread_ts=question.ts)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 2))

    assert set(slack.http_responses) == {200}
    assert next(m.body for m in slack.bot_replies(CHANNEL_ID, question.ts)) == "Served over HTTP."
    assert len(model.chat_requests()) == 2  # the mention (its message + app_mention) and later
    assert later.ts != question.ts
    assert "FORGED-BODY-MARKER" not in caplog.text
    assert "STALE-BODY-MARKER" not in caplog.text
    assert "bad or stale signature" in caplog.text


async def test_the_url_verification_challenge_is_answered(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        settings = http_settings(tmp_path, model, slack)
        async with serving(settings, slack):
            status, text = await slack.post_event(
                {"token": "t", "challenge": "challenge-42", "type": "url_verification"}
            )

    assert (status, "challenge-42" in text) == (200, True)

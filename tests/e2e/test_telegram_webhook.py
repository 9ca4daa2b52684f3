"""Webhook mode: Telegram posts updates to our HTTP route, which checks the secret token."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.telegram.channel import SECRET_HEADER
from tests.e2e.test_telegram import running_bot, telegram_settings
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import FakeTelegram
from tests.harness import wait_until

SECRET = "s3cret-Token_1"
URL = "https://hearth.example.org/tg/hook"


async def test_webhook_mode_sets_the_webhook_and_accepts_only_the_secret_token(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Via the webhook.")))
        settings = telegram_settings(
            tmp_path,
            model,
            telegram,
            mode="webhook",
            webhook_url=URL,
            webhook_secret=SECRET,
            webhook_path="/tg/hook",
        )
        async with running_bot(settings) as bot:
            app = web.Application()
            app.add_routes(bot.channel.http_routes())
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                update = telegram.updates[telegram.user_message(555, "hello")]
                body = json.dumps(update)
                missing = await client.post("/tg/hook", data=body)
                wrong = await client.post("/tg/hook", data=body, headers={SECRET_HEADER: "nope"})
                right = await client.post("/tg/hook", data=body, headers={SECRET_HEADER: SECRET})
                await wait_until(lambda: len(telegram.bot_messages(555)) == 1)

    assert (missing.status, wrong.status, right.status) == (401, 401, 200)
    assert telegram.webhook is not None
    assert telegram.webhook["url"] == URL and telegram.webhook["secret_token"] == SECRET
    assert telegram.calls_of("getUpdates") == []  # no polling in webhook mode
    [message] = telegram.bot_messages(555)
    assert message.text.startswith("Via the webhook.")
    assert len(model.chat_requests()) == 1


async def test_polling_mode_serves_no_webhook_route(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_settings(tmp_path, model, telegram)
        async with running_bot(settings) as bot:
            assert bot.channel.http_routes() == []

"""Configured secrets never show: not in any log line of a full run (DEBUG included), not in the
error of a refused token, not in ``hearth check``; a webhook call without the secret is refused and
its body is not logged."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.cli import main
from bot.redaction import MASK
from channels.base import ChannelError
from channels.telegram.channel import SECRET_HEADER
from config import Settings
from tests.e2e.test_telegram import TIMINGS, running_bot
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import FakeTelegram
from tests.harness import settings_for, wait_until

API_KEY = "sk-ant-api03-SECRET-0123456789abcdef"
WEBHOOK_SECRET = "whsec-SECRET-abcdef0123456789"
BODY_MARKER = "PRIVATE-BODY-7f3a9c"


def webhook_settings(
    tmp_path: Path, model: FakeAnthropic, telegram: FakeTelegram, token: str = ""
) -> Settings:
    provider = {"kind": "anthropic", "api_key": API_KEY, "base_url": model.url, "max_retries": 0}
    section: dict[str, Any] = {
        "token": token or telegram.token,
        "api_base_url": f"{telegram.url}/bot",
        "file_base_url": f"{telegram.url}/file/bot",
        "mode": "webhook",
        "webhook_url": "https://hearth.example.org/tg",
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_path": "/tg",
        **TIMINGS,
    }
    return settings_for(
        tmp_path, {"anthropic": provider}, channels={"telegram": section}, access={"dm": "open"}
    )


def sent_count(telegram: FakeTelegram, count: int) -> bool:
    return len(telegram.bot_messages(555)) == count


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the handlers would write: each message, exception and stack text."""
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), record.exc_text or "", record.stack_info or ""]
    return "\n".join(parts)


async def test_a_full_run_logs_no_configured_secret_even_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Hello from the webhook.")), Reply(Text("Second answer.")))
        settings = webhook_settings(tmp_path, model, telegram)
        secrets = [telegram.token, API_KEY, WEBHOOK_SECRET]
        async with running_bot(settings) as bot:
            app = web.Application()
            app.add_routes(bot.channel.http_routes())
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                for count, text in enumerate(("hi", "and again"), start=1):
                    body = json.dumps(telegram.updates[telegram.user_message(555, text)])
                    response = await client.post(
                        "/tg", data=body, headers={SECRET_HEADER: WEBHOOK_SECRET}
                    )
                    assert response.status == 200
                    await wait_until(functools.partial(sent_count, telegram, count))

    text = logged_text(caplog)
    for secret in secrets:
        assert secret not in text, f"a configured secret was logged: {secret[:6]}…"
    # Not vacuous: the SDKs did try to log secrets (the token is in every Bot API URL, the
    # webhook secret in setWebhook's parameters) and those lines were masked.
    assert MASK in text
    assert len(model.chat_requests()) == 2
    sent = model.chat_requests()[0].headers.values()
    assert any(API_KEY in value for value in sent)  # it was really in use


async def test_a_refused_token_does_not_appear_in_the_error_or_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "123456:WRONG-token-SECRET-value"
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = webhook_settings(tmp_path, model, telegram, token=wrong)
        with pytest.raises(ChannelError) as caught:
            async with running_bot(settings):
                pass

    # python-telegram-bot's InvalidToken quotes the token ("The token `…` was rejected").
    assert "rejected" in str(caught.value) and MASK in str(caught.value)
    chain: list[str] = []
    error: BaseException | None = caught.value
    while error is not None and len(chain) < 10:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert len(chain) >= 2 and all(wrong not in text for text in chain)
    assert wrong not in logged_text(caplog)
    # TelegramChannel.start leaves python-telegram-bot's HTTP client open when initialize()
    # fails; drop the traceback that holds it and collect it here, so its ResourceWarning is not
    # raised in whichever later test the garbage collector happens to run.
    del caught, error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


async def test_hearth_check_masks_every_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "discord.token"
    token_file.write_text("discord-SECRET-token-from-file\n", encoding="utf-8")
    monkeypatch.setenv("HEARTH_TEST_TELEGRAM", "999:telegram-SECRET-token")
    monkeypatch.setenv("HEARTH_TEST_KEY", API_KEY)
    config = tmp_path / "hearth.yaml"
    config.write_text(
        f"""data_dir: '{tmp_path}'
models:
  providers:
    anthropic: {{kind: anthropic, api_key: "${{HEARTH_TEST_KEY}}"}}
  tiers: {{default: ["anthropic:m"]}}
channels:
  telegram: {{token: "${{HEARTH_TEST_TELEGRAM}}", mode: webhook, webhook_url: "https://x.example/t",
              webhook_secret: "{WEBHOOK_SECRET}"}}
  discord: {{token: "file:{token_file}"}}
""",
        encoding="utf-8",
    )
    assert await asyncio.to_thread(main, ["-c", str(config), "check"]) == 0
    out = capsys.readouterr().out
    for secret in (API_KEY, "999:telegram-SECRET-token", WEBHOOK_SECRET, "discord-SECRET-token"):
        assert secret not in out
    assert out.count("'********'") >= 4
    assert "# config OK" in out


async def test_webhook_calls_without_the_secret_are_refused_and_their_body_is_not_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = webhook_settings(tmp_path, model, telegram)
        async with running_bot(settings) as bot:
            app = web.Application()
            app.add_routes(bot.channel.http_routes())
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                update = telegram.updates[telegram.user_message(555, f"hi {BODY_MARKER}")]
                body = json.dumps(update)
                missing = await client.post("/tg", data=body)
                wrong = await client.post("/tg", data=body, headers={SECRET_HEADER: "guess"})
                # The same update with the secret afterwards is answered: the refusals had no effect.
                right = await client.post("/tg", data=body, headers={SECRET_HEADER: WEBHOOK_SECRET})
                await wait_until(lambda: len(telegram.bot_messages(555)) == 1)

    assert (missing.status, wrong.status, right.status) == (401, 401, 200)
    refusals = [r.getMessage() for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refusals) == 2 and "no secret token" in refusals[0]
    assert all(BODY_MARKER not in line for line in refusals)
    assert WEBHOOK_SECRET not in logged_text(caplog) and "guess" not in logged_text(caplog)
    assert len(model.chat_requests()) == 1

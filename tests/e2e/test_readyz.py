"""``/readyz`` follows the heartbeat: a store that stops taking writes or an unreachable provider
makes it 503 with the reason, recovery makes it 200 again, and the admin conversation gets one
alert per change (Telegram through its fake, the console as a second channel)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from bot.health import HealthReport, Heartbeat
from bot.wiring import open_runtime, open_store
from channels.telegram import TelegramChannel
from config import Settings
from tests.e2e.test_console_session import anthropic_provider
from tests.e2e.test_metrics import serving
from tests.e2e.test_telegram import TIMINGS
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Fault
from tests.fakes.telegram import FakeTelegram
from tests.harness import WAIT_S, SteppingClock, console_chat, settings_for, wait_until

ADMIN = 777
BEAT = "50ms"


def telegram_settings_with(
    tmp_path: Path, model: FakeAnthropic, telegram: FakeTelegram, **sections: Any
) -> Settings:
    """One bot on the Telegram fake with open DMs and fast timings, plus top-level ``sections``."""
    channel = {
        "token": telegram.token,
        "api_base_url": f"{telegram.url}/bot",
        "file_base_url": f"{telegram.url}/file/bot",
        **TIMINGS,
    }
    return settings_for(
        tmp_path,
        anthropic_provider(model),
        access={"dm": "open"},
        channels={"telegram": channel},
        **sections,
    )


class Probe:
    """Polls ``/readyz`` and keeps the last answer."""

    def __init__(self, client: aiohttp.ClientSession, base: str) -> None:
        self._client, self._base = client, base
        self.status, self.body = 0, ""

    async def get(self) -> tuple[int, str]:
        async with self._client.get(f"{self._base}/readyz") as response:
            self.status, self.body = response.status, await response.text()
        return self.status, self.body

    async def until(self, status: int, text: str) -> None:
        """Poll until ``/readyz`` answers ``status`` with ``text`` in its body (bounded)."""
        try:
            async with asyncio.timeout(WAIT_S):
                while True:
                    await self.get()
                    if self.status == status and text in self.body:
                        return
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"/readyz stayed {self.status}: {self.body!r}") from None


async def beats(health: Heartbeat, count: int) -> None:
    """Wait until ``count`` more heartbeats have happened."""
    seen: list[HealthReport | None] = [health.report]

    def moved() -> bool:
        if health.report is not seen[-1]:
            seen.append(health.report)
        return len(seen) > count

    await wait_until(moved)


def alerts(telegram: FakeTelegram) -> list[str]:
    return [m.text for m in telegram.bot_messages(ADMIN) if m.text.startswith(("⚠", "✅"))]


async def test_read_only_store_flips_readyz_and_alerts_the_admin_once_per_change(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        settings = telegram_settings_with(
            tmp_path,
            model,
            telegram,
            heartbeat={"interval": BEAT, "alert_to": f"telegram:{ADMIN}"},
        )
        assert settings.channels.telegram is not None
        channel = TelegramChannel(settings.channels.telegram)
        async with (
            open_store(settings) as store,
            open_runtime(settings, [channel], store=store, clock=SteppingClock()) as runtime,
            serving(runtime) as base,
            aiohttp.ClientSession() as client,
        ):
            assert runtime.health is not None
            probe = Probe(client, base)
            telegram.user_message(ADMIN, "/help")  # the admin's chat with the bot exists
            await wait_until(lambda: len(telegram.bot_messages(ADMIN)) == 1)
            await probe.until(200, "ok store: writable")
            assert probe.body.startswith("ready\n")
            assert "ok channel:telegram: connected" in probe.body

            await store.db.execute("PRAGMA query_only = ON")  # writes now fail in SQLite itself
            await probe.until(503, "problem store: not writable")
            assert probe.body.startswith("not ready\n")
            await wait_until(lambda: len(alerts(telegram)) == 1)
            await beats(runtime.health, 3)  # still broken: no second alert
            assert probe.status == 503 and len(alerts(telegram)) == 1

            await store.db.execute("PRAGMA query_only = OFF")
            await probe.until(200, "ok store: writable")
            await wait_until(lambda: len(alerts(telegram)) == 2)
            await beats(runtime.health, 3)  # still fine: no more alerts

            down, up = alerts(telegram)
            assert down.startswith("⚠ Hearth is not ready: store: not writable")
            assert "readonly" in down  # SQLite's own reason
            assert up == "✅ Hearth is ready again."
            assert len(alerts(telegram)) == 2


async def test_unreachable_provider_flips_readyz_until_it_answers_again(tmp_path: Path) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(
            tmp_path,
            anthropic_provider(model),
            heartbeat={
                "interval": BEAT,
                "provider_interval": BEAT,
                "alert_to": "console:local:alice:",
            },
        )
        # The first reachability call (a free model listing) fails; the next ones succeed.
        model.fail_next(
            Fault(503, {"type": "error", "error": {"type": "api_error", "message": "down"}})
        )
        async with (
            console_chat(settings) as chat,
            serving(chat.runtime) as base,
            aiohttp.ClientSession() as client,
        ):
            probe = Probe(client, base)
            await probe.until(503, "problem provider:anthropic: unreachable")
            await probe.until(200, "ok provider:anthropic: reachable")
            out = chat.out.getvalue()

    assert out.count("⚠ Hearth is not ready: provider:anthropic: unreachable") == 1
    assert out.count("✅ Hearth is ready again.") == 1
    listed = [r for r in model.requests if r.path == "/v1/models"]
    assert listed and all(r.method == "GET" for r in listed)
    assert model.chat_requests() == []  # reachability never costs a completion


async def test_readyz_says_shutting_down_once_shutdown_begins(tmp_path: Path) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model))
        async with (
            console_chat(settings) as chat,
            serving(chat.runtime) as base,
            aiohttp.ClientSession() as client,
        ):
            probe = Probe(client, base)
            await probe.until(200, "ok channel:console: connected")
            await chat.runtime.aclose()
            status, body = await probe.get()
            assert status == 503
            assert body.startswith("not ready\nproblem shutting down\n")

"""The heartbeat's checks on a real SQLite store and a real Anthropic client against its fake."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.providers.anthropic import AnthropicProvider
from agent.providers.base import ModelProvider
from bot.health import HealthReport, Heartbeat, alert_sender
from bot.store.sqlite import SqliteStore
from channels.base import Channel, InboundMessage, Intake, ReplyStream, SessionKey
from config import ConfigError, ProviderSettings
from config.operations import HeartbeatSettings
from config.settings import parse_settings
from tests.fakes.anthropic import FakeAnthropic
from tests.unit.bot.test_sessions import Ticker

MB = 1024 * 1024


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@dataclass
class StubChannel:
    """A channel whose connection state the test sets; it records what it is asked to send."""

    name: str
    connected: bool = True
    sent: list[tuple[SessionKey, str]] = field(default_factory=list)

    async def start(self, intake: Intake) -> None:
        return None

    async def stop(self) -> None:
        return None

    def open_reply(self, message: InboundMessage) -> ReplyStream:
        raise NotImplementedError("the heartbeat never replies")

    async def notice(self, message: InboundMessage, text: str) -> None:
        return None

    async def send(self, key: SessionKey, text: str) -> None:
        self.sent.append((key, text))


@dataclass
class Watched:
    """What the heartbeat reads from a runtime."""

    channels: Mapping[str, Channel]
    ages: dict[str, float] = field(default_factory=dict)
    stopping: bool = False

    def inbound_age(self, platform: str) -> float:
        return self.ages.get(platform, 0.0)


def heartbeat(
    store: SqliteStore,
    watched: Watched,
    *,
    providers: Mapping[str, ModelProvider] | None = None,
    free_mb: int = 10_000,
    ticker: Ticker | None = None,
    **settings: Any,
) -> Heartbeat:
    return Heartbeat(
        watched=watched,
        store=store,
        providers=providers or {},
        data_dir=Path("."),
        settings=HeartbeatSettings.model_validate(settings),
        clock=FixedClock(),
        monotonic=ticker or Ticker(),
        disk_free=lambda _path: free_mb * MB,
    )


def problems(report: HealthReport) -> list[str]:
    return report.problems


async def test_all_checks_pass_on_a_healthy_service(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        watched = Watched({"telegram": StubChannel("telegram")}, {"telegram": 12.4})
        report = await heartbeat(store, watched).beat()
    assert report.ready
    assert report.text() == (
        "ready\n"
        "ok channel:telegram: connected, last event 12 s ago\n"
        "ok store: writable\n"
        "ok disk: 10000 MB free\n"
    )


async def test_a_disconnected_channel_low_disk_and_a_silent_channel_are_problems(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        channels = {
            "discord": StubChannel("discord", connected=False),
            "telegram": StubChannel("telegram"),
        }
        watched = Watched(channels, {"telegram": 7300.0})
        beat = heartbeat(store, watched, free_mb=50, min_free_disk_mb=100, max_inbound_age="2h")
        report = await beat.beat()
    assert not report.ready
    assert problems(report) == [
        "channel:discord: disconnected",
        "channel:telegram: no inbound event for 7300 s",
        "disk: 50 MB free under data_dir, below 100 MB",
    ]


async def test_providers_are_called_at_most_once_per_interval_and_never_for_a_completion(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as fake, SqliteStore(tmp_path / "h.db") as store:
        provider = AnthropicProvider(
            "anthropic",
            ProviderSettings.model_validate(
                {"kind": "anthropic", "api_key": "sk-test", "base_url": fake.url, "max_retries": 0}
            ),
        )
        try:
            ticker = Ticker()
            beat = heartbeat(
                store,
                Watched({}),
                providers={"anthropic": provider},
                ticker=ticker,
                provider_interval="60s",
            )
            start = await beat.beat(probe_providers=False)  # the start-up beat
            first = await beat.beat()
            ticker.now = 30
            await beat.beat()
            ticker.now = 61
            await beat.beat()
        finally:
            await provider.aclose()
    listings = [r for r in fake.requests if r.path == "/v1/models"]
    assert len(listings) == 2
    assert fake.chat_requests() == []
    assert [c.name for c in start.checks] == ["store", "disk"]
    assert "ok provider:anthropic: reachable" in first.text()


async def test_alerts_are_posted_on_changes_only(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "h.db") as store:
        channel = StubChannel("telegram")
        watched = Watched({"telegram": channel})
        alert = alert_sender("telegram:42", watched.channels, ["telegram"])
        beat = Heartbeat(
            watched=watched,
            store=store,
            providers={},
            data_dir=tmp_path,
            settings=HeartbeatSettings(),
            clock=FixedClock(),
            alert=alert,
        )
        for connected in (True, False, False, True, True):
            channel.connected = connected
            await beat.beat()
        watched.stopping = True
        channel.connected = False
        await beat.beat()  # shutting down: not an incident
    assert [key for key, _ in channel.sent] == [SessionKey("telegram", "", "42")] * 2
    assert [text for _, text in channel.sent] == [
        "⚠ Hearth is not ready: channel:telegram: disconnected",
        "✅ Hearth is ready again.",
    ]


def test_alert_target_must_name_a_configured_channel() -> None:
    channels = {"telegram": StubChannel("telegram")}
    assert alert_sender(None, channels, ["telegram"]) is None
    # Configured but not running in this process (hearth chat): no alerts, no error.
    assert alert_sender("discord:1", channels, ["telegram", "discord"]) is None
    with pytest.raises(ConfigError) as raised:
        alert_sender("slack:C1", channels, ["telegram"])
    assert str(raised.value) == 'heartbeat.alert_to: no channel "slack" is configured'
    assert alert_sender("telegram:-100:55:7", channels, ["telegram"]) is not None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"alert_to": "telegram"}, "heartbeat.alert_to: must be"),
        ({"interval": "0s"}, "heartbeat.interval: must be longer than 0s"),
        ({"min_free_disk_mb": -1}, "heartbeat.min_free_disk_mb: must be at least 0"),
        ({"max_inbound_age": "soon"}, 'heartbeat.max_inbound_age: must be a duration like "30m"'),
    ],
)
def test_invalid_heartbeat_settings_name_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings({"heartbeat": section})
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"logging": {"format": "xml"}}, "logging.format: must be one of text, json"),
        (
            {"logging": {"level": "loud"}},
            "logging.level: must be one of debug, info, warning, error",
        ),
        ({"maintenance": {"prune_interval": "0s"}}, "maintenance.prune_interval: must be longer"),
    ],
)
def test_invalid_logging_and_maintenance_settings_name_the_key(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(data)
    assert str(raised.value).startswith(message)

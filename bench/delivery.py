"""Item 4: platform delivery — how long after the first token the user sees text.

Hearth's ``deliver`` segment (first token → first platform call carrying model text returned OK)
for each platform adapter against its loopback fake, native streaming and edit mode:

* Telegram, private chat: ``sendMessageDraft`` streaming (native);
* Telegram, group: ``sendMessage`` + throttled ``editMessageText`` (edit mode);
* Discord, DM: post + throttled edits (Discord has no streaming API);
* Slack, thread: ``chat.startStream`` / ``appendStream`` (native) and ``chat.postMessage`` +
  ``chat.update`` (edit mode, ``streaming: edit``).

Every adapter runs with its production timings (draft, edit and stream intervals); what shows
here is what the adapter's buffering and pacing add, plus one loopback round trip to the fake.
The platform fakes run in this process (each call is one small request; the round trip is in
the number and is tens of milliseconds against the real platforms); the model fake runs in its
own process, as everywhere.

``python -m bench.delivery [--turns 20] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.model_server import ModelServer, model_server
from bench.prompts import question
from bench.results import RESULTS, Run, table
from bench.service import bench_settings, service_logging, stored_turns, tag, wait_until
from bench.summary import Summary, ms
from bot.wiring import open_runtime
from channels.base import Channel
from channels.discord import DiscordChannel
from channels.slack import SlackChannel
from channels.telegram import TelegramChannel
from config import Settings
from tests.fakes.discord import DM_CHANNEL_ID, FakeDiscord
from tests.fakes.latency import LatencyModel
from tests.fakes.slack import CHANNEL_ID, FakeSlack
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram

LATENCY = LatencyModel(base_s=0.3, prefill_s_per_token=0.00005, output_tokens_per_s=400.0)
FOOTER = "to first token"
TURN_TIMEOUT_S = 60.0
GROUP_CHAT = -1007777
DM_CHAT = 555


@dataclass(frozen=True)
class Mode:
    """One way of delivering: a platform, a conversation kind, native streaming or edits."""

    name: str
    platform: str
    delivery: str


MODES = (
    Mode("telegram-private", "Telegram, private chat", "native: sendMessageDraft"),
    Mode("telegram-group", "Telegram, group", "edit: sendMessage + editMessageText"),
    Mode("discord-dm", "Discord, DM", "edit: post + edit"),
    Mode("slack-native", "Slack, thread", "native: chat.startStream / appendStream"),
    Mode("slack-edit", "Slack, thread", "edit: chat.postMessage + chat.update"),
)

Say = Callable[[int, str], Awaitable[None]]
"""Send turn ``n`` with this text, and wait until its answer is complete."""


def _settings(tmp: Path, fake: ModelServer, channels: dict[str, Any]) -> Settings:
    return bench_settings(
        tmp, fake.anthropic_url, platform="none", channels=channels, access={"group": "mention"}
    )


@contextlib.asynccontextmanager
async def _running(settings: Settings, channel: Channel) -> AsyncIterator[None]:
    with service_logging(settings):
        async with open_runtime(settings, [channel]):
            yield


@contextlib.asynccontextmanager
async def telegram(tmp: Path, fake: ModelServer, *, group: bool) -> AsyncIterator[Say]:
    """Hearth on the Telegram fake; turns in one private chat or one group."""
    async with FakeTelegram() as bot_api:
        section = {
            "token": bot_api.token,
            "api_base_url": f"{bot_api.url}/bot",
            "file_base_url": f"{bot_api.url}/file/bot",
            "poll_timeout": "2s",
        }
        settings = _settings(tmp, fake, {"telegram": section})
        assert settings.channels.telegram is not None
        chat = GROUP_CHAT if group else DM_CHAT

        async def say(turn: int, text: str) -> None:
            if group:
                bot_api.user_message(chat, f"@{BOT_USERNAME} {text}", chat_type="supergroup")
            else:
                bot_api.user_message(chat, text)
            await wait_until(
                lambda: sum(FOOTER in m.text for m in bot_api.bot_messages(chat)) >= turn,
                TURN_TIMEOUT_S,
            )

        async with _running(settings, TelegramChannel(settings.channels.telegram)):
            yield say


@contextlib.asynccontextmanager
async def discord(tmp: Path, fake: ModelServer) -> AsyncIterator[Say]:
    """Hearth on the Discord fake; turns in the DM channel."""
    async with FakeDiscord() as gateway:
        section = gateway.channel_config(edit_interval="1s", typing_interval="5s")
        settings = _settings(tmp, fake, {"discord": section})
        assert settings.channels.discord is not None
        dm = gateway.channel(DM_CHANNEL_ID)

        async def say(turn: int, text: str) -> None:
            await gateway.user_message(DM_CHANNEL_ID, text)
            await wait_until(
                lambda: sum(FOOTER in m.content for m in dm.bot_messages()) >= turn, TURN_TIMEOUT_S
            )

        async with _running(settings, DiscordChannel(settings.channels.discord)):
            yield say


@contextlib.asynccontextmanager
async def slack(tmp: Path, fake: ModelServer, *, streaming: str) -> AsyncIterator[Say]:
    """Hearth on the Slack fake; turns in one thread opened by an @mention."""
    async with FakeSlack() as workspace:
        section = workspace.channel_config(
            streaming=streaming, stream_interval="500ms", edit_interval="1s"
        )
        settings = _settings(tmp, fake, {"slack": section})
        assert settings.channels.slack is not None
        root: list[str] = []

        def answered(turn: int) -> bool:
            replies = workspace.bot_replies(CHANNEL_ID, root[0]) if root else []
            return sum(any(FOOTER in line for line in m.context) for m in replies) >= turn

        async def say(turn: int, text: str) -> None:
            if not root:
                message = await workspace.user_message(text, mention=True)
                root.append(message.ts)
            else:
                await workspace.user_message(text, thread_ts=root[0])
            await wait_until(lambda: answered(turn), TURN_TIMEOUT_S)

        async with _running(settings, SlackChannel(settings.channels.slack)):
            yield say


def _platform(
    mode: str, tmp: Path, fake: ModelServer
) -> contextlib.AbstractAsyncContextManager[Say]:
    if mode == "telegram-private":
        return telegram(tmp, fake, group=False)
    if mode == "telegram-group":
        return telegram(tmp, fake, group=True)
    if mode == "discord-dm":
        return discord(tmp, fake)
    return slack(tmp, fake, streaming="native" if mode == "slack-native" else "edit")


async def measure(mode: Mode, fake: ModelServer, turns: int) -> dict[str, Any]:
    """``turns`` turns of one conversation; the deliver segment of each."""
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        async with _platform(mode.name, Path(tmp), fake) as say:
            for turn in range(1, turns + 1):
                await say(turn, question(tag(mode.name, turn)))
        settings = bench_settings(Path(tmp), fake.anthropic_url)
        stored = await stored_turns(settings)
    await fake.calls()
    segments = [t.segments for t in stored if t.segments is not None]
    return asdict(mode) | {
        "turns": len(stored),
        "deliver_ms": Summary.of([ms(s.deliver) for s in segments]).as_dict(),
        "prepare_ms": Summary.of([ms(s.prepare) for s in segments]).as_dict(),
        "ttft_ms": Summary.of([ms(s.ttft) for s in segments]).as_dict(),
    }


def _cell(summary: dict[str, Any], digits: int = 1) -> str:
    if not summary.get("n"):
        return "n/a"
    return (
        f"{summary['p50']:.{digits}f} / {summary['p90']:.{digits}f} / {summary['p99']:.{digits}f}"
    )


def markdown(rows: list[dict[str, Any]]) -> str:
    """One row per delivery mode."""
    return table(
        [
            "platform",
            "delivery",
            "turns",
            "**first token → first visible** ms",
            "prepare ms (status call inside)",
            "TTFT ms",
        ],
        [
            [
                r["platform"],
                r["delivery"],
                r["turns"],
                f"**{_cell(r['deliver_ms'])}**",
                _cell(r["prepare_ms"]),
                _cell(r["ttft_ms"]),
            ]
            for r in rows
        ],
    )


async def run(
    modes: list[str], turns: int, latency: LatencyModel = LATENCY
) -> list[dict[str, Any]]:
    """Every mode against one model fake process."""
    rows = []
    async with model_server(latency) as fake:
        for mode in MODES:
            if mode.name in modes:
                row = await measure(mode, fake, turns)
                print(f"delivery: {mode.name} p50 {row['deliver_ms']['p50']} ms", flush=True)
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmark and write ``delivery.json`` / ``delivery.md``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=20, help="turns per mode")
    parser.add_argument(
        "--modes", nargs="+", default=[m.name for m in MODES], choices=[m.name for m in MODES]
    )
    parser.add_argument("--quick", action="store_true", help="2 turns per mode: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    latency = LATENCY
    if args.quick:
        args.turns, latency = 2, LATENCY.scaled(0.1)
    record = Run.begin(
        "delivery", {"turns": args.turns, "modes": args.modes} | {"latency": asdict(latency)}
    )
    rows = asyncio.run(run(args.modes, args.turns, latency))
    note = (
        "\nCells are p50 / p90 / p99 over all turns of the mode, in ms. Production intervals: "
        "Telegram drafts 500 ms and edits 1 s, Discord edits 1 s, Slack appends 500 ms and "
        "updates 1 s.\n"
    )
    return record.finish({"rows": rows}, markdown(rows) + note, args.out)


if __name__ == "__main__":
    main()

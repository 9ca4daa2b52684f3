"""``hearth run`` with Discord, as a user runs it: a subprocess against the loopback fakes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from bot.wiring import build_channels
from channels.discord import DiscordChannel
from config import load_settings
from tests.e2e.discord_support import FOOTER, answered
from tests.e2e.test_cli import clean_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.discord import DM_CHANNEL_ID, TEXT_CHANNEL_ID, FakeDiscord
from tests.fakes.script import Reply, Text
from tests.harness import wait_until

TIMEOUT_S = 30


async def test_hearth_run_answers_a_mention_and_a_dm_then_stops_on_sigterm(tmp_path: Path) -> None:
    async with FakeAnthropic() as model, FakeDiscord() as discord:
        model.script(Reply(Text("Answered in a thread.")), Reply(Text("Answered in the DM.")))
        config = {
            "data_dir": str(tmp_path / "data"),
            "models": {
                "providers": {
                    "anthropic": {"kind": "anthropic", "api_key": "sk-test", "base_url": model.url}
                },
                "tiers": {"default": ["anthropic:test-model"]},
            },
            "channels": {"discord": discord.channel_config()},
            "access": {"dm": "open"},
            "server": {"host": "127.0.0.1", "port": 0},
        }
        path = tmp_path / "hearth.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "-c", str(path), "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=clean_env(tmp_path), cwd=tmp_path,
        )  # fmt: skip
        try:
            await wait_until(lambda: discord.connected, timeout=TIMEOUT_S)
            await discord.user_message(TEXT_CHANNEL_ID, "hello from the channel", mention_bot=True)
            await wait_until(
                lambda: bool(discord.threads()) and answered(discord.threads()[0], 1),
                timeout=TIMEOUT_S,
            )
            await discord.user_message(DM_CHANNEL_ID, "hello in private")
            await wait_until(lambda: answered(discord.channel(DM_CHANNEL_ID), 1), timeout=TIMEOUT_S)
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert process.returncode == 0, err.decode()
    thread = discord.threads()[0]
    assert FOOTER.sub("", thread.bot_messages()[0].content) == "Answered in a thread."
    dm = discord.channel(DM_CHANNEL_ID).bot_messages()
    assert FOOTER.sub("", dm[0].content) == "Answered in the DM."
    assert (tmp_path / "data" / "hearth.db").exists()


def test_the_discord_token_variable_alone_enables_the_channel(tmp_path: Path) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-test", "DISCORD_BOT_TOKEN": "from-the-environment"}

    settings = load_settings(None, env)
    [channel] = build_channels(settings)

    assert isinstance(channel, DiscordChannel)
    assert settings.channels.discord is not None
    assert settings.channels.discord.token.get_secret_value() == "from-the-environment"
    assert settings.channels.discord.message_content is False  # no privileged intent by default

"""``hearth run`` with Slack, as a user runs it: a subprocess against the loopback fakes."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from bot.wiring import build_channels
from channels.slack import SlackChannel
from config import load_settings
from tests.e2e.slack_support import answered
from tests.e2e.test_cli import clean_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, CHANNEL_ID, FakeSlack
from tests.harness import wait_until

TIMEOUT_S = 30


async def test_hearth_run_answers_a_mention_in_its_thread_then_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as model, FakeSlack() as slack:
        model.script(Reply(Text("Answered by a real process.")))
        section = {**slack.channel_config(), "bot_token": "${SLACK_BOT_TOKEN}",
                   "app_token": "${SLACK_APP_TOKEN}"}  # fmt: skip
        config = {
            "data_dir": str(tmp_path / "data"),
            "models": {
                "providers": {
                    "anthropic": {"kind": "anthropic", "api_key": "sk-test", "base_url": model.url}
                },
                "tiers": {"default": ["anthropic:test-model"]},
            },
            "channels": {"slack": section},
            "server": {"host": "127.0.0.1", "port": 0},
        }
        path = tmp_path / "hearth.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        env = clean_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "-c", str(path), "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            await wait_until(lambda: slack.connected or process.returncode is not None, TIMEOUT_S)
            if process.returncode is not None:
                _, err = await process.communicate()
                raise AssertionError(f"hearth run exited early: {err.decode()}")
            question = await slack.user_message("are you running?", mention=True)
            await wait_until(lambda: answered(slack, CHANNEL_ID, question.ts, 1), TIMEOUT_S)
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert process.returncode == 0, err.decode()
    [reply] = slack.bot_replies(CHANNEL_ID, question.ts)
    assert reply.body == "Answered by a real process."
    assert not slack.connected  # the socket was closed on the way out


def test_the_two_slack_token_variables_alone_enable_socket_mode() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-test", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}

    settings = load_settings(None, env)
    [channel] = build_channels(settings)

    assert isinstance(channel, SlackChannel)
    slack = settings.channels.slack
    assert slack is not None
    assert (slack.mode, slack.bot_token.get_secret_value()) == ("socket", "xoxb-1")
    assert slack.app_token is not None and slack.app_token.get_secret_value() == "xapp-1"
    assert channel.http_routes() == []  # Socket Mode serves no HTTP route

"""``hearth run`` as a user runs it: a subprocess answering a Telegram DM through the fakes."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

from tests.e2e.test_cli import clean_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import FakeTelegram
from tests.harness import wait_until

FOOTER = r"\n\n⏱ \d+\.\d\d s to first token"
START_AND_ANSWER_S = 60.0
EXIT_S = 30.0


def write_config(path: Path, telegram: FakeTelegram, model: FakeAnthropic) -> None:
    path.write_text(
        f"""
data_dir: {path.parent / "data"}
models:
  providers:
    anthropic: {{kind: anthropic, api_key: sk-test, base_url: "{model.url}", max_retries: 0}}
  tiers: {{default: ["anthropic:test-model"]}}
access: {{dm: open}}
server: {{host: 127.0.0.1, port: 0}}
channels:
  telegram:
    token: "${{TELEGRAM_BOT_TOKEN}}"
    api_base_url: "{telegram.url}/bot"
    file_base_url: "{telegram.url}/file/bot"
    poll_timeout: 2s
    draft_interval: 20ms
    edit_interval: 100ms
    typing_interval: 50ms
""",
        encoding="utf-8",
    )


async def test_hearth_run_answers_a_telegram_dm_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Hello from a real process.")))
        config = tmp_path / "hearth.yaml"
        write_config(config, telegram, model)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "-c",
            str(config),
            "run",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(tmp_path, TELEGRAM_BOT_TOKEN=telegram.token),
            cwd=tmp_path,
        )
        try:
            await wait_until(
                lambda: bool(telegram.calls_of("getUpdates")) or process.returncode is not None,
                START_AND_ANSWER_S,
            )
            if process.returncode is not None:
                _out, err = await process.communicate()
                raise AssertionError(f"hearth run exited early: {err.decode()}")
            telegram.user_message(555, "hi there")
            await wait_until(lambda: bool(telegram.bot_messages(555)), START_AND_ANSWER_S)
            process.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(process.communicate(), EXIT_S)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert process.returncode == 0, err.decode()
    [message] = telegram.bot_messages(555)
    assert re.fullmatch(re.escape("Hello from a real process.") + FOOTER, message.text)
    # On the way out the poller confirmed what it had fetched: nothing is delivered twice later.
    assert telegram.confirmed > max(telegram.updates)

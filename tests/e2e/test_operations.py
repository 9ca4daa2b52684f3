"""``hearth run`` as an operator sees it: ``/healthz``, ``/readyz`` and ``/metrics`` on its port,
``key=value`` log lines tagged with the session and turn, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

from tests.e2e.test_cli import clean_env
from tests.e2e.test_shutdown import USER, write_config
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import FakeTelegram
from tests.harness import wait_until

START_S = 60.0
LISTENING = re.compile(r"http://127\.0\.0\.1:(\d+)")


async def test_hearth_run_serves_health_readiness_and_metrics_and_logs_key_value_lines(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        model.script(Reply(Text("Hello there.")))
        config = tmp_path / "hearth.yaml"
        write_config(config, telegram, model, "5s")
        config.write_text(config.read_text().replace("format: json", "format: text"))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bot", "-c", str(config), "run"),
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(tmp_path, TELEGRAM_BOT_TOKEN=telegram.token),
            cwd=tmp_path,
        )
        assert process.stderr is not None
        lines: list[str] = []
        try:
            port = None
            async with asyncio.timeout(START_S):
                while port is None and (raw := await process.stderr.readline()):
                    lines.append(raw.decode())
                    if found := LISTENING.search(lines[-1]):
                        port = int(found.group(1))
            assert port is not None, "".join(lines)
            reader = asyncio.create_task(_collect(process.stderr, lines))
            telegram.user_message(USER, "hi")
            await wait_until(lambda: bool(telegram.bot_messages(USER)), START_S)
            await wait_until(lambda: any("turn ok" in line for line in lines), START_S)
            async with aiohttp.ClientSession() as client:
                answers = {}
                for path in ("/healthz", "/readyz", "/metrics"):
                    async with client.get(f"http://127.0.0.1:{port}{path}") as response:
                        answers[path] = (response.status, await response.text())
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), START_S)
            await reader
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert code == 0, "".join(lines)
    assert answers["/healthz"] == (200, "ok\n")
    status, ready = answers["/readyz"]
    assert status == 200 and ready.startswith("ready\n") and "ok store: writable" in ready
    status, metrics = answers["/metrics"]
    assert status == 200
    assert (
        'hearth_ttft_seconds_count{channel="telegram",model="anthropic:test-model"} 1.0' in metrics
    )
    # One key=value line per event; the turn's line names its session and turn.
    assert all(line.startswith("ts=") for line in lines if line.strip())
    [turn_line] = [line for line in lines if "turn ok" in line]
    assert re.search(r" session=telegram:\d+:555: turn=[0-9a-f]{32} ", turn_line)
    assert telegram.token not in "".join(lines)


async def _collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode())

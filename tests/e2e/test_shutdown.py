"""SIGTERM while a reply streams: ``hearth run`` as a subprocess against the Telegram and Anthropic
fakes, the model slowed down so that the signal lands mid-answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.store.base import TurnRecord
from bot.turns import RESTARTING_NOTICE
from bot.wiring import open_store
from config.settings import parse_settings
from tests.e2e.test_cli import clean_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.fakes.telegram import Call, FakeTelegram
from tests.harness import wait_until

USER = 555
FOOTER = r"\n\n⏱ \d+\.\d\d s to first token"
START_S = 60.0
EXIT_S = 60.0
ANSWER = "One two three four five six seven eight nine ten, and that is the count."


def write_config(path: Path, telegram: FakeTelegram, model: FakeAnthropic, grace: str) -> None:
    path.write_text(
        f"""
data_dir: {path.parent / "data"}
models:
  providers:
    anthropic: {{kind: anthropic, api_key: sk-test-key, base_url: "{model.url}", max_retries: 0}}
  tiers: {{default: ["anthropic:test-model"]}}
access: {{dm: open}}
server: {{host: 127.0.0.1, port: 0}}
shutdown: {{grace: {grace}}}
logging: {{format: json}}
channels:
  telegram:
    token: "${{TELEGRAM_BOT_TOKEN}}"
    api_base_url: "{telegram.url}/bot"
    file_base_url: "{telegram.url}/file/bot"
    poll_timeout: 1s
    draft_interval: 20ms
    typing_interval: 50ms
""",
        encoding="utf-8",
    )


@dataclass
class Hearth:
    """A running ``hearth run`` process."""

    process: asyncio.subprocess.Process
    stderr: str = ""

    def signal(self, signum: signal.Signals = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    async def exited(self) -> int:
        """Wait for the exit (bounded) and keep what it logged."""
        _out, err = await asyncio.wait_for(self.process.communicate(), EXIT_S)
        self.stderr = err.decode()
        assert self.process.returncode is not None
        return self.process.returncode


@contextlib.asynccontextmanager
async def hearth_run(
    tmp_path: Path, telegram: FakeTelegram, model: FakeAnthropic, *, grace: str
) -> AsyncIterator[Hearth]:
    """``hearth run`` polling the fake; killed on the way out if a test left it running."""
    config = tmp_path / "hearth.yaml"
    write_config(config, telegram, model, grace)
    polls = len(telegram.calls_of("getUpdates"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "-c", str(config), "run"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path, TELEGRAM_BOT_TOKEN=telegram.token),
        cwd=tmp_path,
    )
    hearth = Hearth(process)
    try:
        await wait_until(
            lambda: len(telegram.calls_of("getUpdates")) > polls or process.returncode is not None,
            START_S,
        )
        if process.returncode is not None:
            _out, err = await process.communicate()
            raise AssertionError(f"hearth run exited early: {err.decode()}")
        yield hearth
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


async def answer_visible(telegram: FakeTelegram) -> None:
    """Wait until the streamed draft shows some of the answer (the reply is mid-stream)."""
    await wait_until(lambda: any(d.text.strip() for d in telegram.drafts_in(USER)), START_S)


async def stored(tmp_path: Path) -> list[TurnRecord]:
    settings = parse_settings({"data_dir": str(tmp_path / "data")})
    async with open_store(settings) as store:
        return await store.turns()


def stopped_polling(call: Call) -> bool:
    """The poller's last ``getUpdates`` on the way out: a confirmation that does not wait."""
    return call.method == "getUpdates" and float(call.params.get("timeout") or 0) == 0


def log_lines(stderr: str) -> list[dict[str, str]]:
    """Every stderr line as the JSON event it must be."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


async def test_sigterm_mid_reply_lets_it_finish_and_loses_no_message(tmp_path: Path) -> None:
    async with (
        FakeTelegram() as telegram,
        FakeAnthropic(delta_interval=0.2) as model,
    ):
        model.script(Reply(Text(ANSWER, chunks=8)), Reply(Text("Still here.")))
        async with hearth_run(tmp_path, telegram, model, grace="30s") as hearth:
            telegram.user_message(USER, "count to ten")
            await answer_visible(telegram)
            hearth.signal()
            # Written during the grace period: it must be answered now or by the next start,
            # never confirmed and dropped.
            late = telegram.user_message(USER, "are you still there?")
            code = await hearth.exited()
        assert code == 0, hearth.stderr
        first = telegram.bot_messages(USER)[0]
        assert re.fullmatch(re.escape(ANSWER) + FOOTER, first.text)

        if len(telegram.bot_messages(USER)) == 1:
            assert telegram.confirmed <= late  # left with Telegram for the next start
            async with hearth_run(tmp_path, telegram, model, grace="30s") as again:
                await wait_until(lambda: len(telegram.bot_messages(USER)) == 2, START_S)
                again.signal()
                assert await again.exited() == 0, again.stderr
        assert [m.text.split("\n")[0] for m in telegram.bot_messages(USER)] == [
            ANSWER,
            "Still here.",
        ]

    turns = await stored(tmp_path)
    assert [t.status for t in turns] == ["ok", "ok"]
    # One JSON line per event; the turn's lines carry its session key and id; no secret leaks.
    events = log_lines(hearth.stderr)
    tagged = [e for e in events if e.get("turn") == turns[0].id]
    assert tagged and all(e["session"].startswith("telegram:") for e in tagged)
    assert telegram.token not in hearth.stderr and "sk-test-key" not in hearth.stderr


async def test_sigterm_cuts_a_reply_longer_than_the_grace_with_a_restarting_note(
    tmp_path: Path,
) -> None:
    async with (
        FakeTelegram() as telegram,
        FakeAnthropic(delta_interval=0.5) as model,
    ):
        long_answer = " ".join(f"word{n}" for n in range(80))
        model.script(Reply(Text(long_answer, chunks=40)))  # about 20 s of streaming
        async with hearth_run(tmp_path, telegram, model, grace="1s") as hearth:
            telegram.user_message(USER, "tell me everything")
            await answer_visible(telegram)
            hearth.signal()
            code = await hearth.exited()

    assert code == 0, hearth.stderr
    [message] = telegram.bot_messages(USER)
    shown, note = message.text.rsplit("\n\n", 1)
    assert note == RESTARTING_NOTICE
    assert shown and long_answer.startswith(shown)
    assert shown != long_answer
    [turn] = await stored(tmp_path)
    assert turn.status == "interrupted"


async def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    async with (
        FakeTelegram() as telegram,
        FakeAnthropic(delta_interval=1.0) as model,
    ):
        model.script(Reply(Text("slow " * 60, chunks=60)))
        async with hearth_run(tmp_path, telegram, model, grace="10m") as hearth:
            telegram.user_message(USER, "take your time")
            await answer_visible(telegram)
            hearth.signal()
            # Shutdown has begun once polling stopped: its last call confirms without waiting.
            await wait_until(lambda: any(stopped_polling(c) for c in telegram.calls), START_S)
            hearth.signal()
            code = await hearth.exited()

    assert code == 128 + signal.SIGTERM.value
    assert "exiting at once" in hearth.stderr

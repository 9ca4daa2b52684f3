"""What the crash tests share: ``hearth run`` as a subprocess that a test can SIGKILL and start
again on the same data directory, and a look into that directory's inbox afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bot.store.base import TurnRecord
from bot.wiring import open_store
from config.settings import parse_settings
from tests.e2e.test_cli import clean_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text
from tests.harness import wait_until

START_S = 60.0
ANSWER_S = 60.0
EXIT_S = 30.0


def write_config(tmp_path: Path, model: FakeAnthropic, channels: dict[str, Any]) -> Path:
    """A config with the Anthropic fake as the model and ``channels``; returns its path."""
    config = {
        "data_dir": str(tmp_path / "data"),
        "models": {
            "providers": {
                "anthropic": {
                    "kind": "anthropic",
                    "api_key": "sk-test",
                    "base_url": model.url,
                    "max_retries": 0,
                }
            },
            "tiers": {"default": ["anthropic:test-model"]},
        },
        "channels": channels,
        "access": {"dm": "open"},
        "server": {"host": "127.0.0.1", "port": 0},
    }
    path = tmp_path / "hearth.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


class Hearth:
    """One ``hearth run`` process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr = ""

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self.process.send_signal(signal.SIGKILL)
        _out, err = await asyncio.wait_for(self.process.communicate(), EXIT_S)
        self.stderr = err.decode()

    async def stop(self) -> int:
        """SIGTERM and the exit code of the graceful shutdown."""
        self.process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(self.process.communicate(), EXIT_S)
        self.stderr = err.decode()
        assert self.process.returncode is not None
        return self.process.returncode


@contextlib.asynccontextmanager
async def hearth_run(
    tmp_path: Path, config: Path, ready: Callable[[], bool], **env: str
) -> AsyncIterator[Hearth]:
    """``hearth run`` with ``config``, yielded once ``ready()`` holds; killed on the way out if
    the test left it running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "-c", str(config), "run"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path, **env),
        cwd=tmp_path,
    )
    hearth = Hearth(process)
    try:
        await wait_until(lambda: ready() or process.returncode is not None, START_S)
        if process.returncode is not None:
            _out, err = await process.communicate()
            raise AssertionError(f"hearth run exited early: {err.decode()}")
        yield hearth
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


def asked(model: FakeAnthropic, marker: str) -> int:
    """How many model requests carried ``marker`` in their last user message."""
    return sum(1 for r in model.chat_requests() if marker in json.dumps(r.json["messages"][-1]))


async def stored(tmp_path: Path) -> tuple[list[TurnRecord], int]:
    """The stored turns and the number of inbox messages still pending."""
    settings = parse_settings({"data_dir": str(tmp_path / "data")})
    async with open_store(settings) as store:
        return await store.turns(), len(await store.pending_inbound())


def script_three_points(model: FakeAnthropic) -> tuple[asyncio.Event, asyncio.Event]:
    """The model's side of the three crash points every platform's crash test kills at.

    * ``alpha``: its first answer never gets past its gate (killed after receipt, nothing shown);
      the second, after the restart, is the one the user sees;
    * ``bravo``: two pieces are shown, then the gate holds the rest (killed mid-stream);
    * ``charlie``: answered completely before the kill (the platform fake holds the last call).

    Returns:
        The gates of alpha and bravo, to open once the service is killed.
    """
    alpha_gate, bravo_gate = asyncio.Event(), asyncio.Event()
    model.script_for("alpha", Reply(Text("Alpha, never sent.", gate=alpha_gate)))
    model.script_for("alpha", Reply(Text("Alpha, answered after the restart.")))
    bravo = Reply(
        Text("Bravo one. ", chunks=1),
        Text("Bravo two. ", chunks=1),
        Text("Bravo, never sent.", gate=bravo_gate),
    )
    model.script_for("bravo", bravo)
    model.script_for("charlie", Reply(Text("Charlie, complete before the crash.")))
    return alpha_gate, bravo_gate

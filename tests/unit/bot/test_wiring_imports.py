"""Start-up imports only the SDKs the configuration uses.

Each case runs in a fresh interpreter (a subprocess), so what other tests imported cannot hide
an import, and reports which SDK packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.e2e.test_cli import clean_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.telegram import FakeTelegram

# Bounds a child that hangs; not a performance limit (a start takes seconds on a loaded machine).
CHILD_S = 180.0

SDKS = ("anthropic", "openai", "telegram", "discord", "slack_bolt", "slack_sdk", "mcp")

# Builds and starts the service the way ``hearth run`` does, then stops it and reports.
RUN_CHILD = """
import asyncio, json, sys
from pathlib import Path

import bot.cli  # what the entry point imports before it looks at the command
from config import load_settings
from bot.http import HttpServer, OpsEndpoints
from bot.wiring import build_channels, http_routes, open_runtime

async def main() -> None:
    settings = load_settings(Path(sys.argv[1]), {})
    channels = build_channels(settings)
    ops = OpsEndpoints()
    server = settings.server
    async with (
        HttpServer(server.host, server.port, [*http_routes(channels), *ops.routes()]),
        open_runtime(settings, channels) as runtime,
    ):
        ops.attach(runtime.health, runtime.metrics)
    print(json.dumps(sorted(set(sys.argv[2].split(",")) & set(sys.modules))))

asyncio.run(main())
"""

CHECK_CHILD = """
import contextlib, io, json, sys

from bot.cli import main

with contextlib.redirect_stdout(io.StringIO()) as out:
    status = main(["-c", sys.argv[1], "check"])
assert status == 0 and "# config OK" in out.getvalue(), out.getvalue()
print(json.dumps(sorted(set(sys.argv[2].split(",")) & set(sys.modules))))
"""


def write_config(path: Path, telegram: FakeTelegram, model: FakeAnthropic) -> None:
    """Telegram only, Anthropic only, no MCP servers, no embedder."""
    path.write_text(
        f"""
data_dir: {path.parent / "data"}
models:
  providers:
    anthropic: {{kind: anthropic, api_key: sk-test, base_url: "{model.url}", max_retries: 0}}
  tiers: {{default: ["anthropic:test-model"]}}
server: {{host: 127.0.0.1, port: 0}}
channels:
  telegram:
    token: "{telegram.token}"
    api_base_url: "{telegram.url}/bot"
    file_base_url: "{telegram.url}/file/bot"
    poll_timeout: 1s
""",
        encoding="utf-8",
    )


async def loaded_in_child(code: str, config: Path, watched: tuple[str, ...]) -> set[str]:
    """Run ``code`` in a fresh interpreter; the modules of ``watched`` it had loaded at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        str(config),
        ",".join(watched),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(config.parent),
        cwd=config.parent,
    )
    async with asyncio.timeout(CHILD_S):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    loaded: list[str] = json.loads(out.decode().strip().splitlines()[-1])
    return set(loaded)


async def test_a_telegram_and_anthropic_service_imports_no_other_sdk(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        config = tmp_path / "hearth.yaml"
        write_config(config, telegram, model)
        loaded = await loaded_in_child(RUN_CHILD, config, SDKS)
        # The service really started on the fake: the adapter imported inside the wiring ran.
        assert telegram.calls_of("getMe")
    # The configured SDKs are there (so the probe sees lazily imported modules) ...
    assert {"anthropic", "telegram"} <= loaded
    # ... and none of the others: no OpenAI provider or embedder, no Discord or Slack, no MCP.
    assert loaded.isdisjoint({"openai", "discord", "slack_bolt", "slack_sdk", "mcp"}), loaded


async def test_hearth_check_loads_neither_sdks_nor_the_runtime(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeAnthropic() as model:
        config = tmp_path / "hearth.yaml"
        write_config(config, telegram, model)
        loaded = await loaded_in_child(CHECK_CHILD, config, (*SDKS, "bot.wiring", "bot.http"))
    assert not loaded, loaded

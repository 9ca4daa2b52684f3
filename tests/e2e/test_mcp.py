"""MCP servers from config: a real stdio server (tests/fakes/mcp_server.py) started with the
runtime, its tools offered to the model and called end to end; a broken server is reported and the
bot runs without it."""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.e2e.test_console_session import anthropic_provider
from tests.e2e.test_tools import tool_results
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text, ToolCall
from tests.harness import console_chat, settings_for, stored_turns, wait_until

SERVER = str(Path(__file__).resolve().parents[1] / "fakes" / "mcp_server.py")
STDIO = {"command": [sys.executable, SERVER], "env": {"FAKE_MCP_SUFFIX": "!"}}
BROKEN = {"command": [sys.executable, "-c", "raise SystemExit(3)"], "startup_timeout": "20s"}
# Reads its stdin and never answers: the handshake cannot finish.
SILENT = {
    "command": [sys.executable, "-c", "import sys; sys.stdin.read()"],
    "startup_timeout": "300ms",
}


def mcp_settings(tmp_path: Path, model: FakeAnthropic, tools: list[str], **servers: Any) -> Any:
    return settings_for(
        tmp_path,
        anthropic_provider(model),
        tools={"mcp": servers},
        agent={"profiles": {"default": {"tools": tools}}},
    )


def offered(fake: FakeAnthropic, index: int = 0) -> list[str]:
    return [t["name"] for t in fake.chat_requests()[index].json.get("tools", [])]


async def test_a_stdio_server_from_config_is_listed_and_called_by_the_model(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as fake:
        settings = mcp_settings(tmp_path, fake, ["time", "fake.*"], fake=STDIO)
        fake.script(
            Reply(
                ToolCall("fake__add", {"a": 2, "b": 40}), ToolCall("fake__shout", {"text": "hi"})
            ),
            Reply(Text("2 + 40 = 42, and HI!")),
            Reply(ToolCall("fake__fail", {"reason": "no such note"})),
            Reply(Text("The server said no.")),
        )
        async with console_chat(settings) as chat:
            first = await chat.say("add 2 and 40, then shout hi")
            second = await chat.say("find a note")
        turns = await stored_turns(settings)

    assert first.startswith("2 + 40 = 42, and HI!")
    assert second.startswith("The server said no.")
    # The server's tools (sanitized names included) sit in the tool definitions, sorted.
    names = offered(fake)
    assert names == sorted(names)
    assert {"fake__add", "fake__fail", "fake__notes_search", "fake__shout", "time"} <= set(names)
    add = next(t for t in fake.chat_requests()[0].json["tools"] if t["name"] == "fake__add")
    assert add["input_schema"]["required"] == ["a", "b"]
    # Results went back to the model; env from the config reached the server.
    assert [c for _, c in tool_results(fake, fake.chat_requests()[1])] == ["42", "HI!"]
    [(_, error)] = tool_results(fake, fake.chat_requests()[3])
    assert error == "error: Error executing tool fail: no such note"  # is_error from the server
    assert [(t.name, t.ok) for t in turns[0].tools] == [("fake__add", True), ("fake__shout", True)]
    assert [(t.name, t.ok) for t in turns[1].tools] == [("fake__fail", False)]
    # The definitions are part of the cached prefix: every request extends the one before.
    requests = fake.chat_requests()
    for earlier, later in itertools.pairwise(requests):
        assert fake.prompt_bytes(later).startswith(fake.prompt_bytes(earlier, upto_breakpoint=-1))


async def test_the_allowlist_picks_server_tools_by_their_dotted_names(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        settings = mcp_settings(tmp_path, fake, ["fake.add", "fake.notes.search"], fake=STDIO)
        fake.script(Reply(ToolCall("fake__shout", {"text": "x"})), Reply(Text("Not allowed.")))
        async with console_chat(settings) as chat:
            await chat.say("shout")

    assert offered(fake) == ["fake__add", "fake__notes_search"]
    [(_, refused)] = tool_results(fake, fake.chat_requests()[1])
    assert refused == "error: unknown tool 'fake__shout'"


async def test_a_server_that_fails_to_start_leaves_the_bot_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeAnthropic() as fake:
        settings = mcp_settings(
            tmp_path,
            fake,
            ["time", "broken.*", "silent", "fake.*"],
            broken=BROKEN,
            silent=SILENT,
            fake=STDIO,
        )
        fake.script(Reply(Text("Still here.")))
        async with console_chat(settings) as chat:
            reply = await chat.say("hello")

    assert reply.startswith("Still here.")
    assert not any(name.startswith("broken__") for name in offered(fake))
    assert "fake__add" in offered(fake)
    assert "MCP server broken failed to start: MCPError: Connection closed" in caplog.text
    assert "MCP server silent failed to start: did not start within 0.3 s" in caplog.text


async def test_hearth_check_reports_each_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hearth.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\n"
        "tools:\n  mcp:\n"
        f"    fake: {{command: ['{sys.executable}', '{SERVER}']}}\n"
        "    missing: {command: [/nonexistent/hearth-mcp-server]}\n"
    )
    assert await asyncio.to_thread(main, ["-c", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "# mcp fake: ok, 5 tools: add, shout, fail, sleep, notes.search" in out
    assert (
        "# warning: mcp missing failed to start (FileNotFoundError: [Errno 2] No such file or "
        "directory: '/nonexistent/hearth-mcp-server'); runs without it"
    ) in out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def http_server() -> Iterator[str]:
    """The same server over streamable HTTP, in a subprocess on 127.0.0.1."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def accepts_connections(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_a_streamable_http_server_from_config_is_called(
    tmp_path: Path, http_server: str
) -> None:
    await wait_until(lambda: accepts_connections(http_server), timeout=20)
    async with FakeAnthropic() as fake:
        settings = mcp_settings(tmp_path, fake, ["remote"], remote={"url": http_server})
        fake.script(Reply(ToolCall("remote__add", {"a": 1, "b": 1})), Reply(Text("Two.")))
        async with console_chat(settings) as chat:
            reply = await chat.say("one plus one")

    assert reply.startswith("Two.")
    assert "remote__add" in offered(fake)
    assert [c for _, c in tool_results(fake, fake.chat_requests()[1])] == ["2"]

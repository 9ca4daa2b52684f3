"""``hearth check`` reports how memory searches; ``hearth forget-user`` deletes a person's data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.memories import sqlite_vec_support
from bot.wiring import open_store
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.script import Reply, Text, ToolCall
from tests.harness import console_chat, settings_for

PROVIDERS = (
    "models:\n  providers:\n"
    "    claude: {kind: anthropic, api_key: x}\n"
    "    local: {kind: openai, api_key: x, base_url: 'http://127.0.0.1:9/v1'}\n"
    "  tiers:\n    default: ['claude:test-model']\n"
)


def config(tmp_path: Path, memory: str = "") -> str:
    path = tmp_path / "hearth.yaml"
    path.write_text(f"data_dir: {tmp_path}\n{PROVIDERS}{memory}", encoding="utf-8")
    return str(path)


async def test_check_reports_keyword_or_hybrid_memory_and_the_vector_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(main, ["-c", config(tmp_path), "check"]) == 0
    plain = capsys.readouterr().out
    hybrid = "memory:\n  embedder: {provider: local, model: nomic-embed-text}\n"
    assert await asyncio.to_thread(main, ["-c", config(tmp_path, hybrid), "check"]) == 0
    with_vectors = capsys.readouterr().out

    search = "NumPy exact cosine (memory.vector_search: numpy)"  # the default, also with sqlite-vec
    assert f"# memory: keywords only (no memory.embedder); vector search: {search}\n" in plain
    assert f"# memory: keywords + vectors (local:nomic-embed-text); vector search: {search}" in (
        with_vectors
    )
    assert "# config OK" in with_vectors


async def test_the_vector_search_can_be_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numpy = config(tmp_path, "memory: {vector_search: numpy}\n")
    assert await asyncio.to_thread(main, ["-c", numpy, "check"]) == 0
    assert "vector search: NumPy exact cosine (memory.vector_search: numpy)" in (
        capsys.readouterr().out
    )
    required = config(tmp_path, "memory: {vector_search: sqlite-vec}\n")
    support = sqlite_vec_support()
    if support.available:  # a Python that loads extensions, with the "vector" extra
        assert await asyncio.to_thread(main, ["-c", required, "check"]) == 0
        assert f"vector search: {support.detail}" in capsys.readouterr().out
    else:
        assert await asyncio.to_thread(main, ["-c", required, "check"]) == 2
        assert capsys.readouterr().err == (
            f"hearth: memory.vector_search: sqlite-vec cannot be used: {support.detail}\n"
        )


@pytest.mark.parametrize(
    ("embedder", "reason"),
    [
        ("{provider: claude, model: m}", '"claude" is of kind anthropic'),
        ("{provider: nope, model: m}", 'unknown provider "nope" (configured: claude, local)'),
        ("{provider: local}", "memory.embedder.model: is required"),
    ],
)
async def test_a_wrong_embedder_stops_check_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], embedder: str, reason: str
) -> None:
    path = config(tmp_path, f"memory:\n  embedder: {embedder}\n")
    assert await asyncio.to_thread(main, ["-c", path, "check"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("hearth: memory.embedder.")
    assert reason in error


async def test_forget_user_deletes_one_persons_memories_and_conversations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeAnthropic() as model:
        settings = settings_for(tmp_path, anthropic_provider(model))
        for person in ("alice", "bob"):
            model.script(
                Reply(ToolCall("remember", {"content": f"{person} likes tea"})),
                Reply(Text("Noted.")),
            )
            async with console_chat(settings, user=person) as chat:
                await chat.say(f"I am {person} and I like tea")
    path = tmp_path / "hearth.yaml"
    path.write_text(f"data_dir: {tmp_path}\n", encoding="utf-8")

    code = await asyncio.to_thread(main, ["-c", str(path), "forget-user", "console:alice"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(
        "forgot console:alice: memories 1, turns 1, messages 4, conversations 1\n"
    )
    async with open_store(settings) as store:
        memories = await store.db.execute_fetchall("SELECT owner, content FROM memories")
        turns = await store.turns()
        assert await store.load_session("console:local:alice:") is None
    assert [tuple(m) for m in memories] == [("console:local:bob", "bob likes tea")]
    assert [t.user_id for t in turns] == ["bob"]
    assert await asyncio.to_thread(main, ["-c", str(path), "forget-user", "alice"]) == 2
    assert "PLATFORM:USER_ID" in capsys.readouterr().err

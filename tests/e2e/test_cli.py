"""``hearth`` as a user runs it: a subprocess against the loopback model fakes."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.script import Reply, Text

FOOTER = re.compile(r"^⏱ \d+\.\d\d s to first token$", re.MULTILINE)
TIMEOUT_S = 60


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment minus anything that could configure Hearth, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "HEARTH_", "TELEGRAM_", "SLACK_", "DISCORD_"))
    }
    env["HOME"] = str(tmp_path)
    return {**env, **extra}


async def hearth(
    *args: str, env: dict[str, str], cwd: Path, stdin: bytes = b""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_piped_chat_with_only_anthropic_env_streams_two_replies(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        fake.script(Reply(Text("Hi, I am Hearth.")), Reply(Text("Yes, again.")))
        env = clean_env(tmp_path, ANTHROPIC_API_KEY="sk-test", ANTHROPIC_BASE_URL=fake.url)
        code, out, err = await hearth("chat", env=env, cwd=tmp_path, stdin=b"hi\nand again\n")

    assert code == 0, err
    assert "Hi, I am Hearth." in out and "Yes, again." in out
    assert len(FOOTER.findall(out)) == 2
    assert out.index("Hi, I am Hearth.") < out.index("Yes, again.")
    assert (tmp_path / "data" / "hearth.db").exists()  # the embedded default store
    assert [r.json["model"] for r in fake.chat_requests()] == ["claude-sonnet-4-5"] * 2


async def test_piped_chat_with_only_openai_env_streams_two_replies(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        fake.script(Reply(Text("Hello from OpenAI.")), Reply(Text("Second reply.")))
        env = clean_env(tmp_path, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=f"{fake.url}/v1")
        code, out, err = await hearth("chat", env=env, cwd=tmp_path, stdin=b"hi\nand again\n")

    assert code == 0, err
    assert "Hello from OpenAI." in out and "Second reply." in out
    assert len(FOOTER.findall(out)) == 2
    assert [r.json["model"] for r in fake.chat_requests()] == ["gpt-5"] * 2


async def test_chat_without_a_model_names_what_to_set(tmp_path: Path) -> None:
    code, out, err = await hearth("chat", env=clean_env(tmp_path), cwd=tmp_path, stdin=b"hi\n")

    assert code == 2
    assert out == ""
    assert "ANTHROPIC_API_KEY" in err and "OPENAI_API_KEY" in err and "models.providers" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()  # nothing started


async def test_malformed_config_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hearth.yaml"
    config.write_text(
        "models:\n  providers:\n    anthropic: {kind: anthropic, api_key: k}\n"
        "  tiers: {default: ['anthropic:m']}\nsessions:\n  idle_ttl: soon\n"
    )
    code, out, err = await hearth("chat", env=clean_env(tmp_path), cwd=tmp_path, stdin=b"hi\n")

    assert code == 2
    assert err.strip() == 'hearth: sessions.idle_ttl: must be a duration like "30m"'
    assert out == ""
    assert not (tmp_path / "data").exists()


async def test_missing_environment_variable_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hearth.yaml"
    config.write_text(
        "models:\n  providers:\n    anthropic: {kind: anthropic, api_key: '${ANTHROPIC_API_KEY}'}\n"
        "  tiers: {default: ['anthropic:m']}\n"
    )
    code, _out, err = await hearth("check", env=clean_env(tmp_path), cwd=tmp_path)

    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("hearth: models.providers.anthropic.api_key:")
    assert "ANTHROPIC_API_KEY" in err


async def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "hearth.yaml").write_text("models:\n  providers: [unclosed\n")
    code, _out, err = await hearth("check", env=clean_env(tmp_path), cwd=tmp_path)

    assert code == 2
    assert "line" in err and "column" in err
    assert len(err.strip().splitlines()) == 1


async def test_init_writes_a_starter_config_that_check_accepts_with_secrets_masked(
    tmp_path: Path,
) -> None:
    env = clean_env(tmp_path, ANTHROPIC_API_KEY="sk-very-secret-value")
    code, _out, err = await hearth("init", env=env, cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "hearth.yaml").exists()

    code, out, err = await hearth("check", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "sk-very-secret-value" not in out + err
    assert "********" in out
    assert "config OK" in out

    code, _out, err = await hearth("init", env=env, cwd=tmp_path)
    assert code == 1 and "exists" in err

"""Cost and cache savings per turn, from the fake's usage and the configured price table."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.wiring import open_store
from tests.e2e.test_console_session import anthropic_provider
from tests.fakes.anthropic import FakeAnthropic
from tests.harness import console_chat, settings_for

PRICE = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}


async def test_stats_show_cost_and_cache_savings_per_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeAnthropic() as fake:
        models = {"models": {"anthropic:test-model": {"price": PRICE}}}
        settings = settings_for(tmp_path, anthropic_provider(fake), models=models)
        async with console_chat(settings) as chat:
            await chat.say("hello")
            await chat.say("and again")
        async with open_store(settings) as store:
            turns = await store.turns()

    expected_cost = 0.0
    expected_saved = 0.0
    for usage, turn in zip(fake.usages, turns, strict=True):
        # Hand-computed from the wire usage (Anthropic: input_tokens excludes cache reads/writes).
        cost = (
            usage["input_tokens"] * 3.0
            + usage["cache_creation_input_tokens"] * 3.75
            + usage["cache_read_input_tokens"] * 0.3
            + usage["output_tokens"] * 15.0
        ) / 1e6
        saved = usage["cache_read_input_tokens"] * (3.0 - 0.3) / 1e6
        assert turn.cost_usd == pytest.approx(cost)
        assert turn.cache_savings_usd == pytest.approx(saved)
        expected_cost += cost
        expected_saved += saved
    assert expected_saved > 0  # the second turn read the first one's prefix from the cache

    config = tmp_path / "hearth.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nmodels:\n  providers:\n    anthropic: {{kind: anthropic, api_key: x}}\n"
        "  tiers:\n    default: ['anthropic:test-model']\n"
    )
    assert await asyncio.to_thread(main, ["-c", str(config), "stats"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[-2:] == ["cost$", "saved$"]
    row = next(
        line for line in table if line.startswith("model ") and "anthropic:test-model" in line
    )
    assert row.split()[-2:] == [f"{expected_cost:.4f}", f"{expected_saved:.4f}"]

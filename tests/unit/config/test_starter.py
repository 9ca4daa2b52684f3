from __future__ import annotations

from config import load_settings, missing_model_help, starter_config
from tests.unit.config.conftest import WriteConfig


def test_starter_config_loads_with_an_anthropic_key(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(starter_config()), {"ANTHROPIC_API_KEY": "sk-ant"})
    assert missing_model_help(settings) is None
    assert [str(ref) for ref in settings.models.chain("default")] == ["anthropic:claude-sonnet-4-5"]
    assert settings.profile_for("slack", "T1", "C1", "U1")[0] == "default"


def test_starter_config_shows_the_alternatives_commented_out() -> None:
    lines = starter_config().splitlines()
    for example in ("${OPENAI_API_KEY}", "http://localhost:11434/v1", "${TELEGRAM_BOT_TOKEN}"):
        using = [line for line in lines if example in line]
        assert using, example
        assert all(line.lstrip().startswith("#") for line in using), example

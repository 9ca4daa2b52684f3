from __future__ import annotations

import pytest

from config import ModelRef, Settings


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("local:llama3.2:3b", "local", "llama3.2:3b"),
    ],
)
def test_model_ref_parses_and_prints(text: str, provider: str, model: str) -> None:
    ref = ModelRef.parse(text)
    assert (ref.provider, ref.model) == (provider, model)
    assert str(ref) == text


@pytest.mark.parametrize("text", ["claude", ":claude", "anthropic:", ""])
def test_model_ref_rejects_incomplete_text(text: str) -> None:
    with pytest.raises(ValueError, match="provider:model"):
        ModelRef.parse(text)


def test_chain_of_unknown_tier_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Settings().models.chain("default")

from __future__ import annotations

import pickle

import pytest

from config import ConfigError
from config.errors import format_key


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("sesions",), "sesions"),
        (("models", "tiers", "default", 0), "models.tiers.default[0]"),
        (("agent", "routes", 2, "match", "user"), "agent.routes[2].match.user"),
        ((), ""),
    ],
)
def test_format_key(path: tuple[str | int, ...], expected: str) -> None:
    assert format_key(path) == expected


def test_config_error_is_one_line_with_key_and_reason() -> None:
    err = ConfigError("reply.footer", "must be one of off, ttft, full")
    assert str(err) == "reply.footer: must be one of off, ttft, full"
    assert (err.key, err.reason) == ("reply.footer", "must be one of off, ttft, full")


def test_config_error_survives_pickling() -> None:
    err = ConfigError("reply.footer", "must be one of off, ttft, full")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.key, copy.reason, str(copy)) == (err.key, err.reason, str(err))

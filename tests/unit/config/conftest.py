"""Fixtures for config tests: writing a hearth.yaml into a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteConfig = Callable[[str], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write the given text as ``hearth.yaml`` and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "hearth.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write

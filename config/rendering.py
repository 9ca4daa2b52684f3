"""Rendering the effective settings back to YAML, secrets masked (``hearth check``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import SecretStr

from config.durations import format_duration
from config.settings import Settings

MASK = "********"


def render_masked(settings: Settings) -> str:
    """Render the effective configuration as YAML that `load_settings` accepts.

    Every secret is shown as ``"********"`` (an unset optional secret stays ``null``), durations as
    ``"1h"``-style strings, and defaults are included, so the output shows exactly what runs.
    """
    return yaml.safe_dump(
        _plain(settings.model_dump()), sort_keys=False, allow_unicode=True, width=100
    )


def _plain(value: object) -> object:
    """Turn dumped model values into YAML-safe data, masking secrets."""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value

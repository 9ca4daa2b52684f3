"""Durations as people write them in config files: ``30s``, ``5m``, ``1h``, ``90d``, ``250ms``."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_UNIT_SECONDS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
}
# Units used when rendering, largest first; weeks are accepted but never produced ("14d", not "2w").
_RENDER_UNITS = ("d", "h", "m", "s", "ms")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w)\s*)+")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")

DURATION_HINT = 'must be a duration like "30m"'


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``"30s"``, ``"5m"``, ``"1h"``, ``"90d"``, ``"250ms"``, ``"1h30m"``.

    Units are ``ms``, ``s``, ``m``, ``h``, ``d`` and ``w``; numbers may have a decimal part. A bare
    number is seconds, as an int or float in YAML is.

    Raises:
        ValueError: The text is not a non-negative duration.
    """
    compact = text.strip()
    if _BARE_NUMBER.fullmatch(compact):
        return _to_timedelta(Decimal(compact))
    if not _WHOLE.fullmatch(compact):
        raise ValueError(
            f'invalid duration {text!r}; expected e.g. "30s", "5m", "1h", "90d", "250ms"'
        )
    total = sum(
        (Decimal(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(compact)),
        Decimal(0),
    )
    return _to_timedelta(total)


def format_duration(value: timedelta) -> str:
    """Render a duration in the largest unit that expresses it exactly: ``1h``, ``90d``, ``250ms``.

    Anything finer than a millisecond is rendered as decimal seconds, which `parse_duration` reads
    back to the same value.
    """
    seconds = Decimal(value.days * 86400 + value.seconds) + Decimal(value.microseconds) / 1_000_000
    if seconds == 0:
        return "0s"
    for unit in _RENDER_UNITS:
        count = seconds / _UNIT_SECONDS[unit]
        if count == count.to_integral_value():
            return f"{int(count)}{unit}"
    return f"{seconds.normalize():f}s"


def _to_timedelta(seconds: Decimal) -> timedelta:
    try:
        return timedelta(seconds=float(seconds))
    except (OverflowError, InvalidOperation) as err:
        raise ValueError(f"duration of {seconds} seconds is too large") from err


def _validate_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        if value >= timedelta(0):
            return value
    elif isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    # bool is an int subclass; `idle_ttl: true` is a mistake, not one second.
    elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        try:
            return timedelta(seconds=value)
        except OverflowError:
            pass
    raise PydanticCustomError("duration", DURATION_HINT)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A `timedelta` config field that accepts ``"30s"``, ``"5m"``, ``"1h"``, ``"90d"``, ``"250ms"`` or
int/float seconds, and serializes to JSON in the same short form."""

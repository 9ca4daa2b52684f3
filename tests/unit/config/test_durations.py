from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from config import Duration, format_duration, parse_duration


class _Holder(BaseModel):
    value: Duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("90d", timedelta(days=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        (" 10s ", timedelta(seconds=10)),
        ("45", timedelta(seconds=45)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-5m", "m5", "1y", "5M", "1h-", "h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        (30, timedelta(seconds=30)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(hours=2), timedelta(hours=2)),
    ],
)
def test_duration_field_accepts(value: object, expected: timedelta) -> None:
    assert _Holder.model_validate({"value": value}).value == expected


@pytest.mark.parametrize("value", ["soon", "-1s", -3, True, None, [], float("inf"), float("nan")])
def test_duration_field_error_reads_like_the_config_hint(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        _Holder.model_validate({"value": value})
    assert caught.value.errors()[0]["msg"] == 'must be a duration like "30m"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=60), "1m"),
        (timedelta(minutes=90), "90m"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=90), "90d"),
        (timedelta(weeks=2), "14d"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=1, milliseconds=500), "1500ms"),
        (timedelta(microseconds=1500), "0.0015s"),
    ],
)
def test_format_duration(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected
    assert parse_duration(expected) == value


def test_duration_serializes_to_json_in_short_form() -> None:
    assert _Holder(value=timedelta(hours=1)).model_dump_json() == '{"value":"1h"}'

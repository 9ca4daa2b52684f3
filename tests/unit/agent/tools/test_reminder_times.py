"""Reading the ``when`` of a reminder: delays, ISO times, times of day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.errors import ToolError
from agent.tools.reminders import parse_when

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("when", "zone", "expected"),
    [
        ("in 10 minutes", UTC_ZONE, NOW + timedelta(minutes=10)),
        ("10m", UTC_ZONE, NOW + timedelta(minutes=10)),
        ("in 2 seconds", UTC_ZONE, NOW + timedelta(seconds=2)),
        ("In an hour", UTC_ZONE, NOW + timedelta(hours=1)),
        ("in a minute", UTC_ZONE, NOW + timedelta(minutes=1)),
        ("1 hour and 30 minutes", UTC_ZONE, NOW + timedelta(minutes=90)),
        ("1h30m", UTC_ZONE, NOW + timedelta(minutes=90)),
        ("2 days, 3 hours", UTC_ZONE, NOW + timedelta(days=2, hours=3)),
        ("in 1.5 hours", UTC_ZONE, NOW + timedelta(minutes=90)),
        ("1 week", UTC_ZONE, NOW + timedelta(weeks=1)),
        ("2026-11-21T15:00", UTC_ZONE, datetime(2026, 11, 21, 15, 0, tzinfo=UTC)),
        ("2026-11-21T15:00", BERLIN, datetime(2026, 11, 21, 14, 0, tzinfo=UTC)),
        ("2026-11-21T15:00+02:00", BERLIN, datetime(2026, 11, 21, 13, 0, tzinfo=UTC)),
        ("2026-11-21T15:00:00Z", BERLIN, datetime(2026, 11, 21, 15, 0, tzinfo=UTC)),
        ("2026-11-22", UTC_ZONE, datetime(2026, 11, 22, tzinfo=UTC)),
        ("15:30", UTC_ZONE, datetime(2026, 11, 21, 15, 30, tzinfo=UTC)),
        ("at 8:15", UTC_ZONE, datetime(2026, 11, 22, 8, 15, tzinfo=UTC)),  # passed today
        ("11:00", BERLIN, datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
    ],
)
def test_when_is_read(when: str, zone: ZoneInfo, expected: datetime) -> None:
    assert parse_when(when, NOW, zone) == expected


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("", "when is empty"),
        ("soonish", "cannot read"),
        ("in 10 parsecs", "cannot read"),
        ("10 minutes ago", "cannot read"),
        ("and 5 minutes", "cannot read"),
        ("25:00", "cannot read"),
        ("2026-11-21T08:00", "not in the future"),
        ("in 0 minutes", "not in the future"),
        ("in 400 days", "at most a year ahead"),
    ],
)
def test_unreadable_or_impossible_times_are_explained(when: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        parse_when(when, NOW, UTC_ZONE)

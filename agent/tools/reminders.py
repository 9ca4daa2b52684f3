"""``set_reminder`` / ``list_reminders`` / ``cancel_reminder``, and parsing of "when".

The tools depend on :class:`ReminderBook`, implemented by ``bot/reminders.py`` (persisted in the
store, scheduled, delivered back into the conversation the reminder was set in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from agent.clock import Clock
from agent.errors import ToolError
from agent.tools.context import ToolContext
from agent.tools.registry import Tool
from agent.tools.schema import function_tool

MAX_AHEAD = timedelta(days=366)
MAX_TEXT = 1000

_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_UNIT_WORDS = {
    "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "day": "d", "days": "d", "week": "w", "weeks": "w",
}  # fmt: skip
# "10 minutes", "2h", "an hour"; the article needs a space so the "an" of "and" is no amount.
_PART = re.compile(r"(?:(\d+(?:\.\d+)?)\s*|\b(an?)\s+)([a-z]+)")
_SEPARATORS = re.compile(r"^(?:\s|,|and)*$")


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder as the tools show it."""

    id: int
    due_at: datetime
    text: str


class ReminderBook(Protocol):
    """Reminders of conversations: stored, scheduled, delivered into their conversation."""

    async def add(self, context: ToolContext, due_at: datetime, text: str) -> Reminder:
        """Persist and schedule a reminder for the conversation of ``context``.

        Raises:
            ToolError: The conversation has too many pending reminders.
        """
        ...

    async def pending(self, context: ToolContext) -> list[Reminder]:
        """The conversation's pending reminders, soonest first."""
        ...

    async def cancel(self, context: ToolContext, reminder_id: int) -> bool:
        """Cancel a pending reminder of the conversation; whether there was one."""
        ...


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The moment ``text`` means, timezone-aware.

    Accepted: a delay (``in 10 minutes``, ``2h``, ``1 hour 30 min``, ``in an hour``), an ISO 8601
    date-time (``2026-11-21T15:00``, with or without offset; without one it is in ``zone``), or a
    time of day (``15:30``: the next such time in ``zone``).

    Raises:
        ToolError: It is none of these, not in the future, or more than a year ahead.
    """
    spoken = text.strip().lower()
    if not spoken:
        raise ToolError("when is empty")
    due = _relative(spoken, now) or _clock_time(spoken, now, zone) or _absolute(spoken, zone)
    if due is None:
        raise ToolError(
            f"cannot read when={text!r}; use a delay like 'in 10 minutes' or an ISO time like "
            "'2026-11-21T15:00' (with the timezone argument or an offset)"
        )
    if due <= now:
        raise ToolError(f"{due.isoformat(timespec='seconds')} is not in the future")
    if due - now > MAX_AHEAD:
        raise ToolError("reminders can be set at most a year ahead")
    return due


def _relative(spoken: str, now: datetime) -> datetime | None:
    body = spoken.removeprefix("in ").strip()
    total = timedelta()
    position = 0
    for match in _PART.finditer(body):
        number, article, word = match.groups()
        unit = _UNIT_WORDS.get(word, word)
        between = body[position : match.start()]
        if unit not in _UNITS or not _SEPARATORS.match(between) or (position == 0 and between):
            return None
        amount = 1.0 if article else float(number)
        total += _UNITS[unit] * amount
        position = match.end()
    if position == 0 or not _SEPARATORS.match(body[position:]):
        return None
    return now + total


def _clock_time(spoken: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    match = re.fullmatch(r"(?:at\s+)?(\d{1,2}):(\d{2})", spoken)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    local_now = now.astimezone(zone)
    due = datetime.combine(local_now.date(), time(hour, minute), zone)
    return due if due > local_now else due + timedelta(days=1)


def _absolute(spoken: str, zone: ZoneInfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(spoken.upper())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(f"unknown timezone {name!r}") from exc


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def reminder_tools(book: ReminderBook, clock: Clock) -> list[Tool[Any]]:
    """The ``set_reminder``, ``list_reminders`` and ``cancel_reminder`` tools over ``book``."""

    async def set_reminder(
        when: str,
        text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        context: ToolContext,
        timezone: str = "UTC",
    ) -> str:
        """Remind the user later, in this same conversation, with a message from the bot.

        Args:
            when: A delay like 'in 10 minutes' or '2h', an ISO time like '2026-11-21T15:00', or a
                time of day like '15:30'.
            text: What to remind them of.
            timezone: IANA timezone for times without an offset (default UTC).
        """
        if not context.session_key:
            raise ToolError("reminders are only available inside a conversation")
        zone = _zone(timezone)
        due = parse_when(when, clock.now(), zone)
        reminder = await book.add(context, due, text.strip())
        return f"Reminder #{reminder.id} set for {_when(reminder.due_at, zone)}."

    async def list_reminders(context: ToolContext, timezone: str = "UTC") -> str:
        """List the pending reminders of this conversation.

        Args:
            timezone: IANA timezone to show the times in (default UTC).
        """
        zone = _zone(timezone)
        pending = await book.pending(context)
        if not pending:
            return "No pending reminders in this conversation."
        return "\n".join(f"#{r.id} at {_when(r.due_at, zone)}: {r.text}" for r in pending)

    async def cancel_reminder(reminder_id: int, context: ToolContext) -> str:
        """Cancel a pending reminder of this conversation.

        Args:
            reminder_id: The number shown by list_reminders, without the #.
        """
        if not await book.cancel(context, reminder_id):
            raise ToolError(f"there is no pending reminder #{reminder_id} in this conversation")
        return f"Cancelled reminder #{reminder_id}."

    return [
        function_tool(set_reminder),
        function_tool(list_reminders),
        function_tool(cancel_reminder),
    ]

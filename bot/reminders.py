"""Reminders: stored, scheduled, and delivered into the conversation they were set in.

The ``reminders`` table is the source of truth; the scheduler only holds one job per pending row
(``reminder:<id>``) and is rebuilt from the table at every start (:meth:`ReminderService.start`),
so reminders survive restarts. A job first claims its row (``pending`` → ``fired``, one conditional
UPDATE), then sends: a reminder is delivered at most once even when its job runs twice.

When the send fails (the platform refused it, or the channel is down or not configured), the
failure is logged with the session key and the row goes back to ``pending``, due again after the
next of ``tools.reminders.retry_delays``; after the last retry it is marked ``failed`` (and logged as an error). A crash
between the claim and the send loses that one delivery rather than risking a duplicate.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from agent.clock import Clock
from agent.errors import ToolError
from agent.tools.context import ToolContext
from agent.tools.reminders import Reminder
from bot.scheduler import Scheduler
from bot.store.reminders import ReminderRow, SqliteReminders
from channels.base import Channel, ChannelError, SessionKey
from config.tools import RemindersSettings

log = logging.getLogger(__name__)

PREFIX = "⏰ Reminder: "


def job_id(reminder_id: int) -> str:
    """The scheduler job of a reminder."""
    return f"reminder:{reminder_id}"


class ReminderService:
    """Implements :class:`agent.tools.reminders.ReminderBook` for the runtime."""

    def __init__(
        self,
        rows: SqliteReminders,
        channels: Mapping[str, Channel],
        clock: Clock,
        settings: RemindersSettings,
    ) -> None:
        self._rows = rows
        self._scheduler: Scheduler | None = None
        self._channels = channels
        self._clock = clock
        self._retry_delays = tuple(settings.retry_delays)
        self._max_pending = settings.max_pending

    async def add(self, context: ToolContext, due_at: datetime, text: str) -> Reminder:
        """See :meth:`agent.tools.reminders.ReminderBook.add`."""
        if await self._rows.count_pending(context.session_key) >= self._max_pending:
            raise ToolError(f"this conversation already has {self._max_pending} pending reminders")
        row = await self._rows.add(
            context.session_key, context.user_id, text, due_at, self._clock.now()
        )
        # Not started yet: start() reads this row from the table (it binds before it reads).
        if self._scheduler is not None:
            self._schedule(self._scheduler, row)
        log.info("reminder %d set for %s, session %s", row.id, row.due_at, row.session_key)
        return Reminder(row.id, row.due_at, row.text)

    async def pending(self, context: ToolContext) -> list[Reminder]:
        """See :meth:`agent.tools.reminders.ReminderBook.pending`."""
        rows = await self._rows.pending(context.session_key)
        return [Reminder(r.id, r.due_at, r.text) for r in rows]

    async def cancel(self, context: ToolContext, reminder_id: int) -> bool:
        """See :meth:`agent.tools.reminders.ReminderBook.cancel`."""
        cancelled = await self._rows.cancel(reminder_id, context.session_key)
        if cancelled and self._scheduler is not None:
            self._scheduler.cancel(job_id(reminder_id))
        return cancelled

    async def start(self, scheduler: Scheduler) -> int:
        """Schedule from now on with ``scheduler``, and register a job for every pending reminder
        (overdue ones fire at once, e.g. after downtime); how many were pending."""
        self._scheduler = scheduler
        rows = await self._rows.pending()
        for row in rows:
            self._schedule(scheduler, row)
        if rows:
            log.info("%d pending reminders scheduled", len(rows))
        return len(rows)

    async def fire(self, reminder_id: int) -> None:
        """Deliver a reminder if it is still pending (the job of ``reminder:<id>``)."""
        row = await self._rows.claim(reminder_id, self._clock.now())
        if row is None:
            return  # cancelled, or delivered by an earlier run of the same job
        try:
            key = SessionKey.parse(row.session_key)
            channel = self._channels.get(key.platform)
            if channel is None:
                raise ChannelError(f"no {key.platform} channel is running")
            await channel.send(key, PREFIX + row.text)
        except Exception as exc:  # the platform, the adapter or the key: retried, never fatal
            await self._failed(row, exc)
            return
        log.info("reminder %d delivered, session %s", row.id, row.session_key)

    async def _failed(self, row: ReminderRow, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if row.attempts > len(self._retry_delays):
            await self._rows.fail(row.id, reason)
            log.error(
                "reminder %d given up after %d attempts, session %s: %s",
                row.id,
                row.attempts,
                row.session_key,
                reason,
            )
            return
        delay = self._retry_delays[row.attempts - 1]
        if isinstance(exc, ChannelError) and exc.retry_after is not None:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        due = self._clock.now() + delay
        await self._rows.retry(row.id, due, reason)
        log.warning(
            "reminder %d not delivered (attempt %d), session %s: %s; retrying at %s",
            row.id,
            row.attempts,
            row.session_key,
            reason,
            due.isoformat(timespec="seconds"),
        )
        retried = await self._rows.get(row.id)
        if retried is not None and retried.state == "pending" and self._scheduler is not None:
            self._schedule(self._scheduler, retried)

    def _schedule(self, scheduler: Scheduler, row: ReminderRow) -> None:
        # Due times are in the injected clock's time; the scheduler runs on the system clock.
        # Both are the same in production; in tests an offset clock lets a reminder "come due".
        wall = row.due_at + (datetime.now(UTC) - self._clock.now())
        scheduler.at(job_id(row.id), wall, functools.partial(self.fire, row.id))

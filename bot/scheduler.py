"""Background jobs on APScheduler 3.11's ``AsyncIOScheduler`` with the in-memory job store.

Our own tables are the source of truth (reminders, retention); jobs are registered again at every
start, so every job must be idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Scheduler:
    """A thin owner of the APScheduler instance: start inside the loop, stop without waiting."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler()

    def start(self) -> None:
        """Start firing jobs; must run inside the event loop."""
        self._scheduler.start()

    async def aclose(self) -> None:
        """Stop firing jobs (running ones are not awaited; each job tolerates being cut)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(self, job_id: str, seconds: float, job: Job) -> None:
        """Run ``job`` every ``seconds``; a run still going when the next is due is skipped."""
        self._scheduler.add_job(
            _logged(job_id, job),
            "interval",
            seconds=seconds,
            id=job_id,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    def at(self, job_id: str, when: datetime, job: Job) -> None:
        """Run ``job`` once at ``when`` (at once if that is in the past)."""
        self._scheduler.add_job(
            _logged(job_id, job),
            "date",
            run_date=when,
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def cancel(self, job_id: str) -> None:
        """Remove a pending job; unknown ids are ignored."""
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def pending(self) -> list[str]:
        """Ids of the jobs registered now."""
        return [job.id for job in self._scheduler.get_jobs()]


def _logged(job_id: str, job: Job) -> Job:
    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("job %s failed", job_id)

    return run

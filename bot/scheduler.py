"""Background jobs on APScheduler 3.11's ``AsyncIOScheduler`` with the in-memory job store.

Our own tables are the source of truth (reminders, retention); jobs are registered again at every
start, so every job must be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Scheduler:
    """A thin owner of the APScheduler instance: start inside the loop; stopping cuts running jobs.

    APScheduler's asyncio executor cancels running jobs on shutdown but cannot await them, so every
    run registers its task here and :meth:`aclose` awaits them: no job outlives the scheduler.
    """

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler()
        self._running: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Start firing jobs; must run inside the event loop."""
        self._scheduler.start()

    async def aclose(self) -> None:
        """Stop firing jobs; running ones are cancelled and awaited (each job tolerates a cut)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def every(self, job_id: str, seconds: float, job: Job) -> None:
        """Run ``job`` every ``seconds``; a run still going when the next is due is skipped."""
        self._scheduler.add_job(
            self._logged(job_id, job),
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
            self._logged(job_id, job),
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

    def _logged(self, job_id: str, job: Job) -> Job:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None  # APScheduler runs a coroutine job as a task of its own
            self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                # Cut by shutdown. Ending normally keeps APScheduler from logging it as an error;
                # nothing above this task waits for the job's cancellation.
                log.debug("job %s cut short by shutdown", job_id)
            except Exception:
                log.exception("job %s failed", job_id)
            finally:
                self._running.discard(task)

        return run

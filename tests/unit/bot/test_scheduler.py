"""The scheduler runs interval and one-off jobs in the loop and owns every run it starts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.scheduler import Scheduler
from tests.harness import wait_until


async def test_interval_jobs_repeat_and_a_failing_run_does_not_stop_them() -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    scheduler = Scheduler()
    scheduler.every("tick", 0.01, job)
    scheduler.start()
    try:
        await wait_until(lambda: len(runs) >= 3)
    finally:
        await scheduler.aclose()


async def test_closing_cancels_and_awaits_a_running_job() -> None:
    started = asyncio.Event()
    outcome: list[str] = []

    async def slow() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # runs until cancelled
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    scheduler = Scheduler()
    scheduler.at("slow", datetime.now(UTC), slow)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 10)
    await scheduler.aclose()
    # The run ended inside aclose: nothing of it outlives the scheduler.
    assert outcome == ["cancelled"]


async def test_jobs_are_replaced_by_id_and_cancelled() -> None:
    calls: list[str] = []

    async def first() -> None:
        calls.append("first")

    async def second() -> None:
        calls.append("second")

    scheduler = Scheduler()
    scheduler.start()
    scheduler.every("job", 3600, first)
    scheduler.every("job", 3600, second)
    scheduler.every("other", 3600, first)
    assert sorted(scheduler.pending()) == ["job", "other"]
    scheduler.cancel("other")
    scheduler.cancel("unknown")
    assert scheduler.pending() == ["job"]
    await scheduler.aclose()
    assert calls == []

"""The background jobs of the service: pruning, heartbeat, store maintenance (DESIGN.md §8).

Every job is idempotent and reads its state from memory or the store, so registering them again
at each start is all the persistence they need.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from agent.clock import Clock
from bot.health import Heartbeat
from bot.scheduler import Scheduler
from bot.sessions import Evictions, SessionPool
from bot.store.base import RetentionCounts, Store
from config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one pruning pass did."""

    evicted: Evictions
    deleted: RetentionCounts


class Pruner:
    """Evicts idle and over-capacity warm sessions and deletes history past retention.

    Args:
        pool: The warm sessions (idle time is measured on the pool's monotonic clock).
        store: Where history is deleted.
        clock: The wall clock that retention is measured against.
        retention: History older than this goes.
        on_deleted: Told what each pass deleted (metrics).
    """

    def __init__(
        self,
        pool: SessionPool,
        store: Store,
        clock: Clock,
        retention: timedelta,
        on_deleted: Callable[[RetentionCounts], None] | None = None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._clock = clock
        self._retention = retention
        self._on_deleted = on_deleted

    async def run(self) -> PruneResult:
        """One pass; safe to run at any time and any number of times."""
        evicted = self._pool.prune()
        cutoff = self._clock.now() - self._retention
        deleted = await self._store.delete_history_before(cutoff)
        if self._on_deleted is not None:
            self._on_deleted(deleted)
        changed = (
            evicted.idle
            or evicted.capacity
            or any((deleted.messages, deleted.turns, deleted.sessions, deleted.inbound))
        )
        log.log(
            logging.INFO if changed else logging.DEBUG,
            "pruned: %d idle and %d over-capacity sessions left memory; "
            "older than %s deleted: %d messages, %d turns, %d sessions, %d inbound ids",
            evicted.idle,
            evicted.capacity,
            cutoff.isoformat(timespec="seconds"),
            deleted.messages,
            deleted.turns,
            deleted.sessions,
            deleted.inbound,
        )
        return PruneResult(evicted, deleted)


def schedule_jobs(
    scheduler: Scheduler,
    settings: Settings,
    *,
    pruner: Pruner,
    heartbeat: Heartbeat,
    store: Store,
    memory: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Register the periodic jobs (again, at every start: the scheduler keeps no state).

    ``memory`` runs after each pruning pass: long-term memory extraction from the conversations
    that went quiet (``bot/memory.py``).
    """

    async def prune() -> None:
        await pruner.run()
        if memory is not None:
            await memory()

    async def beat() -> None:
        await heartbeat.beat()

    async def maintain() -> None:
        await store.maintain()
        log.debug("store checkpointed and optimised")

    scheduler.every("prune", settings.maintenance.prune_interval.total_seconds(), prune)
    scheduler.every("heartbeat", settings.heartbeat.interval.total_seconds(), beat)
    scheduler.every(
        "store-maintenance", settings.maintenance.store_interval.total_seconds(), maintain
    )

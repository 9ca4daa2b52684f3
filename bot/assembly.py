"""The named parts of the service: agent, access control, runtime, health and scheduled jobs.

Each builder makes one part from settings and the parts before it; :func:`bot.wiring.open_runtime`
composes them in order and owns what has to be closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.clock import Clock
from agent.providers.base import ModelProvider
from agent.responder import Agent
from agent.routing import CircuitBreaker
from agent.tools.registry import ToolExecutor, ToolRegistry
from bot.access import AccessGate, AccessRules
from bot.commands import AccessTools, CommandHandler, is_command
from bot.compaction import Compactor
from bot.health import Heartbeat, alert_sender
from bot.inbox import Inbox
from bot.jobs import Pruner, schedule_jobs
from bot.ledger import Ledger
from bot.limits import Limits
from bot.logs import log_turn
from bot.memory import MemoryExtractor
from bot.metrics import Metrics
from bot.pairing import Pairing
from bot.pipeline import DurableDedupe, ignore_bots
from bot.recall import Recall, RecallAhead
from bot.recovery import Recovery
from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.sessions import SessionPool
from bot.store.access import SqliteAccessStore
from bot.store.base import Store, TurnRecord
from bot.store.sqlite import SqliteStore
from bot.toolbox import Tooling
from bot.turns import TurnRunner
from channels.base import Channel, InboundMessage
from config import Settings


def build_agent(
    settings: Settings, providers: Mapping[str, ModelProvider], tools: ToolRegistry
) -> Agent:
    """The agent: model routing over ``providers``, the tools and their executor limits."""
    executor = ToolExecutor(
        tools,
        timeout=settings.agent.tool_timeout.total_seconds(),
        output_limit=settings.tools.output_limit,
    )
    return Agent(
        providers,
        settings.models,
        tools,
        executor,
        max_tool_rounds=settings.agent.max_tool_rounds,
        breaker=CircuitBreaker(settings.models.circuit),
    )


@dataclass(frozen=True)
class Access:
    """Access control: who may talk to the bot, and how much.

    Attributes:
        rules: Allowlists and DM policy per channel.
        pairing: Pairing codes of new DM users.
        store: Where approvals, pairing codes and usage are kept.
        gate: The middleware that applies ``rules`` and ``pairing``.
        limits: The middleware for rate limits and budgets.
    """

    rules: AccessRules
    pairing: Pairing
    store: SqliteAccessStore
    gate: AccessGate
    limits: Limits


def build_access(
    settings: Settings, db: SqliteStore, channels: Mapping[str, Channel], clock: Clock
) -> Access:
    """Access control on the SQLite connection ``db``."""
    store = SqliteAccessStore(db)
    rules = AccessRules(settings)
    pairing = Pairing(store, clock)
    return Access(
        rules=rules,
        pairing=pairing,
        store=store,
        gate=AccessGate(rules, pairing, store, channels, clock),
        limits=Limits(
            settings.limits, rules, store, channels, clock, exempt_from_budget=is_command
        ),
    )


def build_runtime(
    settings: Settings,
    *,
    store: Store,
    providers: Mapping[str, ModelProvider],
    channels: Mapping[str, Channel],
    agent: Agent,
    access: Access,
    recall: Recall,
    clock: Clock,
) -> Runtime:
    """The runtime: the middleware chain, the turn runner, commands, warm sessions and recovery.

    Its health is set afterwards (:func:`build_heartbeat` watches the runtime).
    """
    pool = SessionPool(
        store,
        capacity=settings.sessions.max_warm,
        idle_ttl_s=settings.sessions.idle_ttl.total_seconds(),
    )
    compactor = Compactor(agent, store, settings.models, settings.agent.compaction)
    metrics = Metrics()
    inbox = Inbox(store)

    def observe_turn(turn: TurnRecord, error: BaseException | None) -> None:
        access.limits.observe_turn(turn)  # today's budget sums, kept in memory
        metrics.observe_turn(turn, error)
        log_turn(turn, error)

    turns = TurnRunner(
        settings=settings,
        pool=pool,
        store=store,
        agent=agent,
        channels=channels,
        clock=clock,
        compactor=compactor,
        observer=observe_turn,
        recall=recall,
        ledger=Ledger(store, snapshot_interval=settings.sessions.ledger_interval.total_seconds()),
    )
    commands = CommandHandler(
        settings=settings,
        pool=pool,
        store=store,
        agent=agent,
        compactor=compactor,
        access=AccessTools(
            access.rules, access.pairing, access.store, access.limits, channels, clock
        ),
        recall=recall,
    )
    runtime: Runtime | None = None  # asked about lanes by the recall ahead; built just below

    def starts_at_once(message: InboundMessage) -> bool:
        return runtime is not None and runtime.starts_at_once(message)

    runtime = Runtime(
        channels=channels,
        middlewares=[
            ignore_bots,
            access.gate,
            RecallAhead(recall, starts_at_once),
            DurableDedupe(inbox),
            access.limits,
        ],
        turns=turns,
        commands=commands,
        pool=pool,
        providers=providers,
        lane_mode=settings.sessions.lane_mode,
        max_concurrent=settings.sessions.max_concurrent_turns,
        grace_s=settings.shutdown.grace.total_seconds(),
        metrics=metrics,
        inbox=inbox,
        recovery=Recovery(
            store=store, channels=channels, pool=pool, settings=settings, clock=clock
        ),
        lane_queue=settings.sessions.lane_queue,
    )
    return runtime


def build_heartbeat(settings: Settings, runtime: Runtime, store: Store, clock: Clock) -> Heartbeat:
    """The heartbeat that watches ``runtime``, the store, disk and providers.

    Raises:
        ConfigError: ``heartbeat.alert_to`` names a platform with no configured channel.
    """
    configured = [name for name, section in settings.channels if section is not None]
    return Heartbeat(
        watched=runtime,
        store=store,
        providers=runtime.providers,
        data_dir=settings.data_dir,
        settings=settings.heartbeat,
        clock=clock,
        alert=alert_sender(settings.heartbeat.alert_to, runtime.channels, configured),
        on_report=runtime.metrics.observe_health,
    )


def schedule_service_jobs(
    scheduler: Scheduler,
    settings: Settings,
    *,
    runtime: Runtime,
    heartbeat: Heartbeat,
    store: Store,
    agent: Agent,
    tooling: Tooling,
    clock: Clock,
) -> None:
    """Register pruning (then memory extraction), heartbeats and store maintenance."""
    pruner = Pruner(
        runtime.pool, store, clock, settings.sessions.retention, runtime.metrics.observe_retention
    )
    memories = tooling.recall.memories
    schedule_jobs(
        scheduler,
        settings,
        pruner=pruner,
        heartbeat=heartbeat,
        store=store,
        memory=MemoryExtractor(memories, tooling.db, agent, settings, clock).run,
    )

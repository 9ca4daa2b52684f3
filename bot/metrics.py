"""Prometheus metrics of one runtime, served on ``/metrics``.

Every runtime owns its own :class:`prometheus_client.CollectorRegistry` (no process-global state:
tests run many runtimes in one process). Turn figures are fed by the turn runner's observer hook
after each stored turn, so the TTFT histogram counts exactly the stored turns that showed text;
figures that describe "now" (lanes, queue, warm sessions, connections) are read at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent.errors import ProviderError
from bot.health import HealthReport
from bot.stats import SEGMENTS
from bot.store.base import RetentionCounts, TurnRecord
from channels.base import Channel, ChannelError

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds. TTFT lives between a few hundred milliseconds and tens of seconds (DESIGN.md §1); the
# segments go down to the sub-millisecond warm-session lookup.
TTFT_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
SEGMENT_BUCKETS = (
    0.0005,
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
NS = 1e9


class Observed(Protocol):
    """What the scrape-time collector reads from the running service."""

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The connected channels by name."""
        ...

    @property
    def active_lanes(self) -> int:
        """Session lanes with work."""
        ...

    @property
    def queue_depth(self) -> int:
        """Messages waiting for their lane."""
        ...

    @property
    def warm_sessions(self) -> int:
        """Sessions in memory."""
        ...

    @property
    def evictions(self) -> Mapping[str, int]:
        """Sessions dropped from memory since start, by reason."""
        ...

    @property
    def refused(self) -> int:
        """Messages refused because their thread's lane was full (back-pressure)."""
        ...


def error_kind(error: BaseException) -> str:
    """The ``kind`` label of an error: the provider's own kind, ``channel`` or ``internal``."""
    if isinstance(error, ProviderError):
        return error.kind
    if isinstance(error, ChannelError):
        return "channel"
    return "internal"


class Metrics:
    """The metric families of one runtime and the hooks that feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.ttft = Histogram(
            "hearth_ttft_seconds",
            "Time to first visible token of a turn (received to first visible).",
            ["channel", "model"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.segments = Histogram(
            "hearth_ttft_segment_seconds",
            "Each TTFT segment of a turn: queue, session, prepare, model, deliver.",
            ["segment", "channel", "model"],
            buckets=SEGMENT_BUCKETS,
            registry=registry,
        )
        self.turns = Counter(
            "hearth_turns", "Stored turns by status.", ["channel", "status"], registry=registry
        )
        self.errors = Counter(
            "hearth_errors",
            "Failed turns by kind (provider error kinds, channel, internal).",
            ["kind"],
            registry=registry,
        )
        self.tokens = Counter(
            "hearth_tokens",
            "Model tokens; input includes cache reads and writes.",
            ["channel", "model", "kind"],
            registry=registry,
        )
        self.retention = Counter(
            "hearth_retention_deleted",
            "Rows deleted because they were older than sessions.retention.",
            ["table"],
            registry=registry,
        )
        self.ready = Gauge(
            "hearth_ready", "1 when the last heartbeat found no problem.", registry=registry
        )
        self.checks = Gauge(
            "hearth_health_check", "1 when a heartbeat check passed.", ["check"], registry=registry
        )

    def observe(self, source: Observed) -> None:
        """Export the live figures of ``source`` (read at every scrape)."""
        self.registry.register(_LiveCollector(source))

    def observe_turn(self, turn: TurnRecord, error: BaseException | None) -> None:
        """Count a stored turn: status, TTFT and segments (when text was shown), tokens, error."""
        channel, model = turn.platform, turn.model or "none"
        self.turns.labels(channel, turn.status).inc()
        segments = turn.segments
        if segments is not None:
            self.ttft.labels(channel, model).observe(segments.ttft / NS)
            for name in SEGMENTS:
                self.segments.labels(name, channel, model).observe(getattr(segments, name) / NS)
        usage = turn.usage
        counts = (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        )
        for kind, count in zip(TOKEN_KINDS, counts, strict=True):
            self.tokens.labels(channel, model, kind).inc(count)
        if error is not None:
            self.errors.labels(error_kind(error)).inc()

    def count_error(self, error: BaseException) -> None:
        """Count a failure outside the turn runner's own handling (a bug, a store failure)."""
        self.errors.labels(error_kind(error)).inc()

    def observe_retention(self, counts: RetentionCounts) -> None:
        """Count rows deleted by one retention pass."""
        for table in ("messages", "turns", "sessions", "inbound"):
            self.retention.labels(table).inc(getattr(counts, table))

    def observe_health(self, report: HealthReport) -> None:
        """Mirror a heartbeat: readiness and each check."""
        self.ready.set(1 if report.ready else 0)
        for check in report.checks:
            self.checks.labels(check.name).set(1 if check.ok else 0)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class _LiveCollector:
    """Figures of "now", read from the runtime at scrape time."""

    def __init__(self, source: Observed) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        source = self._source
        yield GaugeMetricFamily(
            "hearth_active_lanes",
            "Session lanes with a turn running or waiting.",
            source.active_lanes,
        )
        yield GaugeMetricFamily(
            "hearth_queue_depth", "Messages waiting for their lane.", source.queue_depth
        )
        yield GaugeMetricFamily(
            "hearth_warm_sessions", "Sessions kept warm in memory.", source.warm_sessions
        )
        evicted = CounterMetricFamily(
            "hearth_sessions_evicted", "Sessions dropped from memory, by reason.", labels=["reason"]
        )
        for reason, count in sorted(source.evictions.items()):
            evicted.add_metric([reason], count)
        yield evicted
        yield CounterMetricFamily(
            "hearth_lane_refused",
            "Messages refused because their thread's lane was full (the thread was told once).",
            source.refused,
        )
        connected = GaugeMetricFamily(
            "hearth_channel_connected", "1 while a channel's connection is up.", labels=["channel"]
        )
        reconnects = CounterMetricFamily(
            "hearth_channel_reconnects",
            "Times a channel lost its connection and made a new one.",
            labels=["channel"],
        )
        for name, channel in sorted(source.channels.items()):
            connected.add_metric([name], 1 if channel.connected else 0)
            # Adapters that track reconnections expose ``reconnects``; the others count none.
            reconnects.add_metric([name], int(getattr(channel, "reconnects", 0)))
        yield connected
        yield reconnects

"""The worker's Prometheus metrics (domain series, per batch and per task) and its health."""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from faust.sensors import Monitor
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workers.core.outputs import Answer, Escalate
from workers.stream.task_tally import TaskTotals

DISPATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass
class WorkerMetrics:
    """Domain series on one registry (faust's own sensor writes to the same one)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        registry = self.registry
        self.tasks = Gauge(
            "gvi_tasks",
            "Tasks in this worker's partitions, by recipient and status",
            ["recipient", "status"],
            registry=registry,
        )
        self.overdue = Gauge(
            "gvi_tasks_overdue",
            "Open tasks past their deadline in this worker's partitions",
            ["recipient"],
            registry=registry,
        )
        self.escalated = Gauge(
            "gvi_tasks_escalated",
            "Tasks escalated (overdue, declined, failed) in this worker's partitions",
            ["recipient"],
            registry=registry,
        )
        self.rejections = Counter(
            "gvi_rejections",
            "Messages answered on gvi.rejected, by error code",
            ["code"],
            registry=registry,
        )
        self.escalations = Counter(
            "gvi_escalations",
            "Reminders and escalations written to gvi.escalations",
            ["level", "reason"],
            registry=registry,
        )
        self.dispatch_seconds = Histogram(
            "gvi_incident_dispatch_seconds",
            "An incident's message timestamp to all its tasks for a group acknowledged on "
            "their recipients' topics",
            buckets=DISPATCH_BUCKETS,
            registry=registry,
        )
        self.lag = Gauge(
            "gvi_consumer_lag",
            "Messages not yet processed, per assigned input partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.deadline_ticks = Counter(
            "gvi_deadline_ticks",
            "Ticks of the deadline timer, by whether it read the task table (`pass`) or knew "
            "that nothing could be due (`skipped`)",
            ["outcome"],
            registry=registry,
        )
        self.changelog_applied = Counter(
            "gvi_table_changelog_records_applied",
            "Changelog records applied to a table: at recovery, and as a standby replica",
            ["table"],
            registry=registry,
        )
        self.batch_messages = Histogram(
            "gvi_batch_messages",
            "Messages per batch an agent handled before sending their outputs together",
            ["agent"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 500),
            registry=registry,
        )
        self.batch_flush_seconds = Histogram(
            "gvi_batch_flush_seconds",
            "A batch's outputs sent and acknowledged, then its state written and acknowledged",
            ["agent"],
            registry=registry,
        )
        self.downstream_wait_seconds = Counter(
            "gvi_downstream_wait_seconds",
            "Time an agent waited before a batch while a later stage of the incident's path lagged",
            ["agent"],
            registry=registry,
        )
        self.gc_pause_seconds = Histogram(
            "gvi_gc_pause_seconds",
            "Python garbage collections, each of which holds every thread of the worker, by "
            "generation (2: a full collection)",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.ready = Gauge(
            "gvi_ready", "1 when the worker answers (no recovery, no rebalance)", registry=registry
        )

    def observe_dispatch(self, published_at: datetime, now: datetime) -> None:
        self.dispatch_seconds.observe(max((now - published_at).total_seconds(), 0.0))

    def count_sent(self, outputs: Iterable[object]) -> None:
        """Count the rejections and escalations among a decision's acknowledged outputs."""
        for output in outputs:
            match output:
                case Answer(code=code):
                    self.rejections.labels(code.value).inc()
                case Escalate(escalation=escalation):
                    level, reason = escalation.level.value, escalation.reason.value
                    self.escalations.labels(level, reason).inc()

    def show_tasks(self, totals: TaskTotals) -> None:
        """Set the task gauges (every recipient with a task gets its overdue and escalated
        series, zero included)."""
        self.tasks.clear()
        self.overdue.clear()
        self.escalated.clear()
        for (recipient, status), count in totals.by_status.items():
            if count:
                self.tasks.labels(recipient, status).set(count)
        for recipient in {recipient for (recipient, _), count in totals.by_status.items() if count}:
            self.overdue.labels(recipient).set(totals.overdue[recipient])
            self.escalated.labels(recipient).set(totals.escalated[recipient])


class CollectionClock:
    """A `gc.callbacks` entry that times each garbage collection into `gvi_gc_pause_seconds`."""

    def __init__(self, pauses: Histogram) -> None:
        self.by_generation = [pauses.labels(str(generation)) for generation in range(3)]
        self.started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.by_generation[info["generation"]].observe(time.perf_counter() - self.started)


def owned_partitions(app: Any, topic: str) -> set[int]:
    """The partitions of `topic` this worker actively owns."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def readiness(app: Any) -> dict[str, bool]:
    """Ready: the first recovery has finished, and no recovery or rebalance runs now."""
    recovery = app.tables.recovery
    recovering = bool(getattr(app, "in_recovery", False)) or not recovery.completed.is_set()
    rebalancing = bool(getattr(app, "rebalancing", False))
    return {
        "ready": not recovering and not rebalancing,
        "recovering": recovering,
        "rebalancing": rebalancing,
    }


class CommittedOffsets(Monitor):
    """faust's monitor (the app's `Monitor` setting) without its work per message, event, table
    read and send: the worker keeps its own series per batch (`WorkerMetrics`), and `/metrics`
    reads only the committed offsets (`tp_committed_offsets`, kept per commit) for the lag."""

    def on_message_in(self, *args: Any) -> None:
        return None

    def on_stream_event_in(self, *args: Any) -> None:
        return None

    def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_message_out(self, *args: Any) -> None:
        return None

    def on_table_get(self, *args: Any) -> None:
        return None

    def on_table_set(self, *args: Any) -> None:
        return None

    def on_table_del(self, *args: Any) -> None:
        return None

    def on_send_initiated(self, *args: Any) -> None:
        return None

    def on_send_completed(self, *args: Any) -> None:
        return None

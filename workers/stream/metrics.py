"""The worker's Prometheus metrics (domain series, per batch and per task) and its health."""

import re
from collections import Counter as Tally
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from events.partitioning import partition_of
from workers.core.outputs import Answer, Escalate

DISPATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
RECIPIENT = re.compile(rb'"recipient":"([^"]+)"')
STATUS = re.compile(rb'"status":"([^"]+)"')


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

    async def count_tasks(
        self, stored: AsyncIterable[tuple[str, bytes]], owned: Callable[[str], bool]
    ) -> None:
        """Set the task gauges from the stored task records (JSON bytes, the task's own fields
        first) of the partitions this worker owns."""
        by_status: Tally[tuple[str, str]] = Tally()
        overdue: Tally[str] = Tally()
        escalated: Tally[str] = Tally()
        async for task_id, record in stored:
            if not owned(task_id):
                continue
            found_recipient, found_status = RECIPIENT.search(record), STATUS.search(record)
            if found_recipient is None or found_status is None:
                continue
            name = found_recipient.group(1).decode()
            by_status[(name, found_status.group(1).decode())] += 1
            overdue[name] += b'"overdue":true' in record
            escalated[name] += b'"escalated":true' in record
        self.tasks.clear()
        self.overdue.clear()
        self.escalated.clear()
        for (recipient, status), count in by_status.items():
            self.tasks.labels(recipient, status).set(count)
        for recipient in {recipient for recipient, _ in by_status}:
            self.overdue.labels(recipient).set(overdue[recipient])
            self.escalated.labels(recipient).set(escalated[recipient])


def owned_by(app: Any, topic: str, partitions: int) -> Callable[[str], bool]:
    """Whether a key's partition of `topic` is one this worker actively owns."""
    mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    return lambda key: partition_of(key, partitions) in mine


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

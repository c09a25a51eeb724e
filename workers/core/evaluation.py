"""The evaluation report, computed from what the topics hold: per recipient and municipality,
tasks planned, delivered, acknowledged, completed, declined (with reasons) and cancelled, the
times to acknowledge and to complete, the on-time share, and the steps most often skipped."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median, quantiles

from schemas.completion import CompletionSnapshot
from schemas.incident import IncidentCorrected, IncidentReported, IncidentRetracted
from schemas.task import RecipientTaskView, TaskKind, TaskStatus, TaskStatusChange
from workers.core.lifecycle import PROGRESSION, moves_on
from workers.core.policy import municipality_key

Planned = IncidentReported | IncidentCorrected
IncidentEvent = IncidentReported | IncidentCorrected | IncidentRetracted
ACKNOWLEDGING = {TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED}
SKIPPED_STEPS = {"follow-up": "follow_up", "offer of help": "offer-of-help"}
"""The steps most often skipped: every follow-up task, and the offer of help (by action)."""


@dataclass(frozen=True)
class Window:
    """Incidents reported on `first` … `last` (whole days, UTC), in one municipality or all, and
    in one partnership's municipalities or all."""

    first: date
    last: date
    municipality: str | None = None
    partnership: str | None = None
    partnership_municipalities: tuple[str, ...] = ()

    def holds(self, reported_at: datetime, municipality: str) -> bool:
        day = reported_at.date()
        in_place = self.municipality is None or municipality == self.municipality
        in_partnership = self.partnership is None or municipality_key(municipality) in {
            municipality_key(name) for name in self.partnership_municipalities
        }
        return self.first <= day <= self.last and in_place and in_partnership


@dataclass
class TaskFacts:
    """What the topics say about one task."""

    task_id: str
    incident_id: str
    recipient: str
    municipality: str
    kind: TaskKind
    action: str
    deadline: datetime
    status: TaskStatus
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    completed_at: datetime | None = None
    reason: str | None = None


@dataclass
class Row:
    """One recipient in one municipality."""

    recipient: str
    municipality: str
    planned: int = 0
    delivered: int = 0
    acknowledged: int = 0
    completed: int = 0
    declined: int = 0
    failed: int = 0
    cancelled: int = 0
    open: int = 0
    completed_on_time: int = 0
    overdue_open: int = 0
    hours_to_acknowledge: list[float] = field(default_factory=list)
    hours_to_complete: list[float] = field(default_factory=list)
    declined_reasons: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, object]:
        due = self.completed + self.overdue_open
        return {
            "recipient": self.recipient,
            "municipality": self.municipality,
            "planned": self.planned,
            "delivered": self.delivered,
            "acknowledged": self.acknowledged,
            "completed": self.completed,
            "declined": self.declined,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "open": self.open,
            "acknowledge_hours_median": _median(self.hours_to_acknowledge),
            "acknowledge_hours_p90": _p90(self.hours_to_acknowledge),
            "complete_hours_median": _median(self.hours_to_complete),
            "complete_hours_p90": _p90(self.hours_to_complete),
            "on_time_share": round(self.completed_on_time / due, 4) if due else None,
            "declined_reasons": dict(sorted(self.declined_reasons.items())),
        }


@dataclass(frozen=True)
class Report:
    """The rows by recipient and municipality, and the skipped steps planned versus done."""

    window: Window
    as_of: datetime
    rows: tuple[dict[str, object], ...]
    steps: tuple[dict[str, object], ...]
    incidents: int


def latest_incidents(events: Iterable[IncidentEvent]) -> dict[str, Planned]:
    """Each incident's latest reported or corrected version (its facts: place and time)."""
    latest: dict[str, Planned] = {}
    for event in events:
        if isinstance(event, IncidentRetracted):
            continue
        held = latest.get(event.incident_id)
        if held is None or event.version > held.version:
            latest[event.incident_id] = event
    return latest


def retracted(events: Iterable[IncidentEvent]) -> set[str]:
    """The incidents withdrawn by a retraction (their tasks were cancelled)."""
    return {event.incident_id for event in events if isinstance(event, IncidentRetracted)}


def task_facts(
    incidents: Mapping[str, Planned],
    snapshots: Iterable[CompletionSnapshot],
    deliveries: Iterable[tuple[RecipientTaskView, datetime]],
    accepted_updates: Iterable[TaskStatusChange],
    window: Window,
) -> dict[str, TaskFacts]:
    """One record per task of the incidents in the window: from each incident's last snapshot
    (the planned tasks and their status), the recipients' topics (when each was delivered,
    cancelled, and any task a large snapshot left out) and the agencies' accepted updates."""
    municipality_of: dict[str, str] = {}
    for incident_id, incident in incidents.items():
        if window.holds(incident.reported_at, incident.municipality):
            municipality_of[incident_id] = incident.municipality
    facts: dict[str, TaskFacts] = {}
    last: dict[str, CompletionSnapshot] = {}
    for snapshot in snapshots:
        last[snapshot.incident_id] = snapshot
    for incident_id, snapshot in last.items():
        if incident_id not in municipality_of:
            continue
        for line in snapshot.tasks:
            facts[str(line.task_id)] = TaskFacts(
                task_id=str(line.task_id),
                incident_id=incident_id,
                recipient=line.recipient,
                municipality=municipality_of[incident_id],
                kind=line.kind,
                action=line.action,
                deadline=line.deadline,
                status=line.status,
            )
    for view, published_at in deliveries:
        task_id = str(view.task_id)
        known = facts.get(task_id)
        if known is None and view.incident_id in municipality_of and view.kind is not None:
            known = facts[task_id] = TaskFacts(
                task_id=task_id,
                incident_id=view.incident_id,
                recipient=view.recipient,
                municipality=municipality_of[view.incident_id],
                kind=view.kind,
                action=view.action,
                deadline=view.deadline,
                status=view.status,
            )
        if known is None:
            continue
        if view.status is TaskStatus.DELIVERED and known.delivered_at is None:
            known.delivered_at = published_at
        if view.status is TaskStatus.CANCELLED:
            known.status = TaskStatus.CANCELLED
    for change in sorted(accepted_updates, key=lambda c: c.changed_at):
        known = facts.get(str(change.task_id))
        if known is None or change.recipient != known.recipient:
            continue
        if change.status in ACKNOWLEDGING and known.acknowledged_at is None:
            known.acknowledged_at = change.changed_at
        if change.status is TaskStatus.COMPLETED and known.completed_at is None:
            known.completed_at = change.changed_at
        if change.status in (TaskStatus.DECLINED, TaskStatus.FAILED) and known.reason is None:
            known.reason = change.reason
        if moves_on(known.status, change.status):
            known.status = change.status
    return facts


def report(facts: Mapping[str, TaskFacts], window: Window, as_of: datetime) -> Report:
    """Count the tasks by recipient and municipality."""
    rows: dict[tuple[str, str], Row] = {}
    steps: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for task in facts.values():
        row = rows.setdefault(
            (task.recipient, task.municipality), Row(task.recipient, task.municipality)
        )
        row.planned += 1
        reached = task.status
        if task.delivered_at is not None or _reached(reached, TaskStatus.DELIVERED):
            row.delivered += 1
        if task.acknowledged_at is not None or reached in ACKNOWLEDGING:
            row.acknowledged += 1
        match reached:
            case TaskStatus.COMPLETED:
                row.completed += 1
                done = task.completed_at
                if done is not None and done <= task.deadline:
                    row.completed_on_time += 1
            case TaskStatus.DECLINED:
                row.declined += 1
                row.declined_reasons[task.reason or "(no reason)"] += 1
            case TaskStatus.FAILED:
                row.failed += 1
            case TaskStatus.CANCELLED:
                row.cancelled += 1
            case _:
                row.open += 1
                row.overdue_open += task.deadline < as_of
        start = task.delivered_at
        if start is not None and task.acknowledged_at is not None:
            row.hours_to_acknowledge.append(_hours(task.acknowledged_at - start))
        if start is not None and task.completed_at is not None and reached is TaskStatus.COMPLETED:
            row.hours_to_complete.append(_hours(task.completed_at - start))
        for step, marker in SKIPPED_STEPS.items():
            if task.kind.value == marker or task.action == marker:
                counted = steps[(step, task.municipality)]
                counted[0] += 1
                counted[1] += reached is TaskStatus.COMPLETED
    ordered = sorted(rows.values(), key=lambda r: (r.municipality, r.recipient))
    step_rows: tuple[dict[str, object], ...] = tuple(
        {
            "step": step,
            "municipality": municipality,
            "planned": planned,
            "completed": completed,
            "skipped_share": round(1 - completed / planned, 4) if planned else None,
        }
        for (step, municipality), (planned, completed) in sorted(steps.items())
    )
    incidents = len({task.incident_id for task in facts.values()})
    return Report(window, as_of, tuple(r.summary() for r in ordered), step_rows, incidents)


def _reached(status: TaskStatus, step: TaskStatus) -> bool:
    if status not in PROGRESSION:
        return status is not TaskStatus.CANCELLED
    return PROGRESSION.index(status) >= PROGRESSION.index(step)


def _hours(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0) / 3600


def _median(values: list[float]) -> float | None:
    return round(median(values), 3) if values else None


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(quantiles(values, n=10, method="inclusive")[-1], 3)

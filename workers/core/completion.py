"""The completion snapshot of an incident, computed from its tasks."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from schemas.common import built
from schemas.completion import CompletionSnapshot, IncidentProgress, TaskProgress
from schemas.task import OPEN_STATUSES, SanctionTask, TaskStatus
from workers.core.decision import Decision, Outcome
from workers.core.messages import TaskEvent, TaskLine
from workers.core.outputs import Snapshot

MAX_LISTED_TASKS = 500
"""Tasks listed per snapshot (about 250 bytes each); the counts always cover every task."""


def completion_snapshot(
    incident_id: str,
    incident_version: int,
    policy_version: str,
    tasks: Iterable[SanctionTask | TaskLine],
    now: datetime,
    partnership: str | None = None,
) -> CompletionSnapshot:
    """Summarise every task of one incident; cancelled tasks count neither as due, done nor late."""
    ordered = sorted(
        (TaskLine.of(task) for task in tasks),
        key=lambda task: (task.deadline, task.recipient, task.task_id),
    )
    overdue = {
        task.task_id: task.status is not TaskStatus.CANCELLED
        and (task.overdue or (task.status in OPEN_STATUSES and now > task.deadline))
        for task in ordered
    }
    listed = ordered
    if len(ordered) > MAX_LISTED_TASKS:
        listed = sorted(ordered, key=lambda task: task.status not in OPEN_STATUSES)
        listed = listed[:MAX_LISTED_TASKS]
    by_status = Counter(task.status for task in ordered)
    due = [task for task in ordered if task.status is not TaskStatus.CANCELLED]
    completed = by_status[TaskStatus.COMPLETED]
    open_count = sum(by_status[status] for status in OPEN_STATUSES)
    if not ordered:
        progress = IncidentProgress.NO_ACTION
    elif not due:
        progress = IncidentProgress.CANCELLED
    elif open_count:
        progress = IncidentProgress.OPEN
    else:
        progress = IncidentProgress.DONE
    percent = round(100.0 * completed / len(due), 1) if due else 0.0
    return CompletionSnapshot(
        incident_id=incident_id,
        incident_version=incident_version,
        policy_version=policy_version,
        partnership=partnership,
        progress=progress,
        tasks_total=len(ordered),
        tasks_open=open_count,
        tasks_completed=completed,
        tasks_overdue=sum(overdue.values()),
        by_status={status: by_status[status] for status in TaskStatus if by_status[status]},
        percent_complete=percent,
        tasks=tuple(
            built(
                TaskProgress,
                task_id=task.task_id,
                recipient=task.recipient,
                kind=task.kind,
                action=task.action,
                group_id=task.group_id,
                status=task.status,
                deadline=task.deadline,
                overdue=overdue[task.task_id],
                escalated=task.escalated,
            )
            for task in listed
        ),
        tasks_omitted=len(ordered) - len(listed),
        updated_at=now,
    )


def merge_tasks(
    known: Mapping[str, TaskLine], incoming: Iterable[SanctionTask | TaskLine], planned: bool
) -> dict[str, TaskLine] | None:
    """An incident's tasks with newer states merged in; None when nothing changes.

    A planned task only fills a gap (the task agent's states are newer). A task state replaces
    the known one only when its revision is higher: a state read again after a later one (a
    replay after a crash or a seek) changes nothing, so progress never goes backwards.
    """
    merged = dict(known)
    for task in incoming:
        task_id = str(task.task_id)
        current = merged.get(task_id)
        if current is None or (not planned and task.revision > current.revision):
            merged[task_id] = TaskLine.of(task)
    return None if merged == known else merged


@dataclass(frozen=True)
class IncidentSlot:
    """What completion holds for one incident: its version (None before its first event),
    playbook version, partnership, groups, and each group's task lines."""

    version: int | None = None
    policy_version: str = ""
    partnership: str | None = None
    groups: tuple[str, ...] = ()
    lines: Mapping[str, Mapping[str, TaskLine]] = field(default_factory=dict)


def progress_after(slot: IncidentSlot, change: TaskEvent, now: datetime) -> Decision[IncidentSlot]:
    """Merge one task event into an incident's progress: the new slot and, when anything
    changed, the incident's new completion snapshot."""
    by_group: dict[str, list[TaskLine]] = {}
    for task in change.tasks:
        by_group.setdefault(task.group_id, []).append(task)
    changed: dict[str, dict[str, TaskLine]] = {}
    for group_id, incoming in by_group.items():
        known = slot.lines.get(group_id, {})
        merged = merge_tasks(known, incoming, planned=change.event == "planned")
        if merged is not None:
            changed[group_id] = merged
    version = max(slot.version or 0, change.incident_version)
    if slot.version is not None and not changed and change.incident_version <= slot.version:
        return Decision(slot)
    groups = (*slot.groups, *(g for g in changed if g not in slot.groups))
    lines = {**slot.lines, **changed}
    every_line = [line for group_id in groups for line in lines.get(group_id, {}).values()]
    partnership = change.partnership or slot.partnership
    snapshot = completion_snapshot(
        change.incident_id, version, change.policy_version, every_line, now, partnership
    )
    after = IncidentSlot(version, change.policy_version, partnership, groups, lines)
    return Decision(after, (Snapshot(snapshot),), Outcome.PROGRESS_CHANGED)

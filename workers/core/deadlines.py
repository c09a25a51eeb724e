"""Deadlines: which tasks are overdue, which are at their reminder point, which wait to be sent
late, and which parked work has waited too long. The deadline timer asks; the owning agents act."""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from uuid import UUID

from schemas.task import OPEN_STATUSES, SanctionTask
from workers.core.messages import (
    ExpireParkedUpdates,
    GiveUpWaiting,
    MarkDelivered,
    MarkOverdue,
    RemindTask,
)
from workers.core.outputs import Disclosure, HandToGroup, Instruct, Output
from workers.core.policy import Policy
from workers.core.records import ParkedIncident, ParkedUpdates, TaskRecord
from workers.core.tasks import redelivery, reminder_due_at

Owned = Callable[[str], bool]
"""Whether this worker owns a key (its partition is assigned here)."""


def overdue(records: Iterable[tuple[str, TaskRecord]], owned: Owned, now: datetime) -> list[Output]:
    """A command to flag each open task past its deadline that is not flagged yet."""
    return [
        Instruct(MarkOverdue(task_id=record.task.task_id, at=now))
        for task_id, record in records
        if owned(task_id) and record.task.status in OPEN_STATUSES and record.task.is_overdue_at(now)
    ]


def reminders(
    records: Iterable[tuple[str, TaskRecord]],
    owned: Owned,
    policy_of: Callable[[SanctionTask], Policy],
    now: datetime,
) -> list[Output]:
    """A command to remind each open task at its playbook's reminder point, once, before its
    deadline."""
    return [
        Instruct(RemindTask(task_id=record.task.task_id, at=now))
        for task_id, record in records
        if owned(task_id)
        and record.reminded_at is None
        and record.task.status in OPEN_STATUSES
        and not record.task.overdue
        and (due := reminder_due_at(record.task, policy_of(record.task))) is not None
        and due <= now < record.task.deadline
    ]


def next_attention(record: TaskRecord, policy: Policy) -> datetime | None:
    """The first moment at which `overdue` or `reminders` act on this task (None: never): its
    reminder point while it is open, not reminded and before its deadline, else its deadline
    while it is open and not flagged overdue. Before it, the timer has nothing to do for it."""
    task = record.task
    if task.status not in OPEN_STATUSES or task.overdue:
        return None
    due = reminder_due_at(task, policy) if record.reminded_at is None else None
    return due if due is not None and due < task.deadline else task.deadline


def expired_parked_updates(
    waiting: Iterable[tuple[str, ParkedUpdates]], owned: Owned, wait: timedelta, now: datetime
) -> list[Output]:
    """A command to answer the updates that waited `wait` for a task that never came."""
    return [
        Instruct(ExpireParkedUpdates(task_id=UUID(task_id), at=now))
        for task_id, updates in waiting
        if owned(task_id) and updates.expired_at(now, wait)
    ]


def given_up_incidents(
    parked: Iterable[ParkedIncident], owned: Owned, wait: timedelta, now: datetime
) -> list[Output]:
    """Work to stop waiting for the profile of a group that an incident waited `wait` for."""
    return [
        HandToGroup(GiveUpWaiting(group_id=p.work.group_id, incident_id=p.work.incident_id))
        for p in parked
        if owned(p.work.group_id) and p.expired_at(now, wait)
    ]


def undelivered(
    records: Iterable[tuple[str, TaskRecord]],
    owned: Owned,
    policy_of: Callable[[SanctionTask], Policy],
    now: datetime,
) -> dict[str, list[Disclosure]]:
    """Per recipient, the tasks kept as created because its topic did not take them."""
    waiting: dict[str, list[Disclosure]] = {}
    for task_id, record in records:
        disclosure = redelivery(record, policy_of(record.task), now)
        if disclosure is not None and owned(task_id):
            waiting.setdefault(record.task.recipient, []).append(disclosure)
    return waiting


def delivered(disclosures: Iterable[Disclosure]) -> list[Output]:
    """A command to mark each task sent late as delivered."""
    return [
        Instruct(MarkDelivered(task_id=d.audit.task_id, at=d.audit.disclosed_at))
        for d in disclosures
    ]

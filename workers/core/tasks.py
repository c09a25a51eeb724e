"""The task agent's decisions, one per command or update: (slot, input, now) -> (slot', outputs)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.common import amended, built
from schemas.escalation import Escalation, EscalationLevel, EscalationReason
from schemas.rejection import Refused, RejectionCode
from schemas.task import SanctionTask, TaskStatus, TaskStatusChange
from workers.core.decision import Decision, Outcome
from workers.core.lifecycle import apply_status_change, cancel, mark_delivered, mark_overdue
from workers.core.messages import (
    CancelTask,
    MarkDelivered,
    NewTask,
    RemindTask,
    SourceRef,
    TaskEvent,
    TaskLine,
)
from workers.core.outputs import Answer, Disclosure, Escalate, Output, Progress
from workers.core.policy import Policy
from workers.core.projection import view_of
from workers.core.records import (
    NO_PARKED_UPDATES,
    AppliedUpdate,
    ParkedUpdate,
    ParkedUpdates,
    TaskRecord,
)

ESCALATING = {
    TaskStatus.DECLINED: EscalationReason.DECLINED,
    TaskStatus.FAILED: EscalationReason.FAILED,
}
MAX_PARKED_PER_TASK = 20
MAX_APPLIED_KEPT = 20


@dataclass(frozen=True)
class TaskSlot:
    """What the task agent holds for one task id: the task, and updates waiting for it."""

    record: TaskRecord | None = None
    parked: ParkedUpdates = NO_PARKED_UPDATES


Decided = Decision[TaskSlot]
"""The task stage's decision (a type only: calling a generic alias sets `__orig_class__` on
the frozen instance, and the refusal it catches cost more than the decision)."""


def keep_created(slot: TaskSlot, new: NewTask, policy: Policy, now: datetime) -> Decided:
    """Keep a task that planning dispatched, then apply the updates that waited for it. A task
    known already (the creation read again) stays as it is."""
    record = (
        slot.record
        if slot.record is not None
        else built(TaskRecord, task=new.task, context=new.context)
    )
    released = release_parked(TaskSlot(record, slot.parked), policy, now)
    if slot.parked.updates:
        outcome = Outcome.PARKED_UPDATES_APPLIED
    else:
        outcome = Outcome.TASK_KEPT if slot.record is None else Outcome.TASK_ALREADY_KNOWN
    return Decision(released.slot, released.outputs, outcome)


def take_update(
    slot: TaskSlot,
    change: TaskStatusChange,
    reporter: str,
    source: SourceRef,
    policy: Policy,
    now: datetime,
) -> Decided:
    """An agency's status update, read from `reporter`'s own status topic (its identity: only
    its principal may write there); one for a task not known yet is parked (after a crash an
    agency can report on a task whose creation is read again only after its report). Raises
    Refused for an update that names another agency, or one the lifecycle refuses."""
    if change.recipient != reporter:
        raise Refused(
            f"the update names {change.recipient} but arrived on {reporter}'s status topic; "
            f"{reporter} may report only on its own tasks",
            RejectionCode.WRONG_AGENCY,
        )
    if slot.record is None:
        update = ParkedUpdate(change=change, source=source, parked_at=now)
        parked = slot.parked.with_update(update, MAX_PARKED_PER_TASK)
        return Decision(TaskSlot(None, parked), (), Outcome.UPDATE_PARKED)
    record, outputs = _changed_status(slot.record, change, policy, now)
    outcome = Outcome.STATUS_CHANGED if outputs else Outcome.REPEATED_UPDATE
    return Decision(TaskSlot(record, slot.parked), outputs, outcome)


def release_parked(slot: TaskSlot, policy: Policy, now: datetime) -> Decided:
    """Apply the updates parked for a task that is now known, in the order they arrived; each
    refused one is answered where it was read."""
    record = slot.record
    if record is None or not slot.parked.updates:
        return Decision(slot)
    outputs: list[Output] = []
    for update in slot.parked.updates:
        try:
            record, more = _changed_status(record, update.change, policy, now)
        except Refused as refusal:
            more = (Answer(update.source, refusal.code, refusal.message),)
        outputs.extend(more)
    return Decision(
        TaskSlot(record, NO_PARKED_UPDATES), tuple(outputs), Outcome.PARKED_UPDATES_APPLIED
    )


def cancel_task(slot: TaskSlot, command: CancelTask, policy: Policy) -> Decided:
    """Cancel a task on the planner's word; its recipient is told once. Raises Refused for a
    task id not known."""
    record = slot.record
    if record is None:
        raise Refused(f"cancellation of unknown task {command.task_id}", RejectionCode.UNKNOWN_TASK)
    transition = cancel(record.task, command.reason, command.at)
    if not transition.changed:
        return Decision(slot)
    stored, progress = _stored(record, transition.task, record.applied, command.at)
    if command.incident_version > progress.event.incident_version:
        progress = Progress(amended(progress.event, incident_version=command.incident_version))
    if record.task.status is TaskStatus.CREATED:
        return Decision(
            TaskSlot(stored, slot.parked), (progress,), Outcome.UNDELIVERED_TASK_CANCELLED
        )
    view = view_of(stored.task, stored.context, policy)
    disclosure = Disclosure.of(stored.task, view, "cancelled", command.at)
    return Decision(TaskSlot(stored, slot.parked), (disclosure, progress), Outcome.TASK_CANCELLED)


def redelivery(record: TaskRecord, policy: Policy, now: datetime) -> Disclosure | None:
    """For the deadline timer: the disclosure of a task kept as created (its recipient's topic
    could not be written when it was planned), as the task will stand once delivered; None
    for a task that is not waiting to be sent."""
    if record.task.status is not TaskStatus.CREATED:
        return None
    delivered = mark_delivered(record.task, now).task
    delivered = amended(delivered, revision=record.task.revision + 1)
    return Disclosure.of(delivered, view_of(delivered, record.context, policy), "created", now)


def take_delivery(slot: TaskSlot, command: MarkDelivered, policy: Policy) -> Decided:
    """A task the deadline timer has now sent to its recipient becomes delivered. When it was
    cancelled meanwhile, the recipient, who has just been sent the task, is told so."""
    record = slot.record
    if record is None:
        return Decision(slot)
    if record.task.status is TaskStatus.CANCELLED:
        view = view_of(record.task, record.context, policy)
        told = Disclosure.of(record.task, view, "cancelled", command.at)
        return Decision(slot, (told,), Outcome.CANCELLED_BEFORE_LATE_DELIVERY)
    delivered = mark_delivered(record.task, command.at)
    if not delivered.changed:
        return Decision(slot)
    stored, progress = _stored(record, delivered.task, record.applied, command.at)
    return Decision(TaskSlot(stored, slot.parked), (progress,), Outcome.DELIVERED_LATE)


def flag_overdue(slot: TaskSlot, policy: Policy, now: datetime) -> Decided:
    """Flag an open task past its deadline and escalate it, once."""
    record = slot.record
    if record is None:
        return Decision(slot)
    overdue = mark_overdue(record.task, now)
    if not overdue.changed:
        return Decision(slot)
    late = overdue.task
    escalation = _escalation(
        late,
        EscalationReason.OVERDUE,
        f"{late.recipient} has not completed {late.action} ({late.title}), "
        f"due {late.deadline.isoformat()}; status {late.status.value}",
        now,
    )
    task = amended(late, escalated=True)
    stored, progress = _stored(record, task, record.applied, now)
    return Decision(TaskSlot(stored, slot.parked), (escalation, progress), Outcome.TASK_OVERDUE)


def reminder_due_at(task: SanctionTask, policy: Policy) -> datetime | None:
    """When an open task is reminded: the policy's share of its time to the deadline."""
    if policy.reminder_share is None:
        return None
    return task.created_at + (task.deadline - task.created_at) * policy.reminder_share


def remind(slot: TaskSlot, command: RemindTask, policy: Policy) -> Decided:
    """Remind once: an open task past its reminder point and not yet past its deadline (from
    then on the overdue escalation speaks for it) gets a reminder on `gvi.escalations`."""
    record, now = slot.record, command.at
    if record is None or record.reminded_at is not None:
        return Decision(slot)
    task = record.task
    due = reminder_due_at(task, policy)
    if not task.is_open or task.overdue or due is None or not due <= now < task.deadline:
        return Decision(slot)
    reminder = _escalation(
        task,
        EscalationReason.DEADLINE_APPROACHING,
        f"{task.recipient} has not completed {task.action} ({task.title}); due "
        f"{task.deadline.isoformat()}, status {task.status.value}",
        now,
        EscalationLevel.REMINDER,
    )
    stored = amended(record, reminded_at=now)
    return Decision(TaskSlot(stored, slot.parked), (reminder,), Outcome.TASK_REMINDED)


def expire_parked(slot: TaskSlot, wait: timedelta, policy: Policy, now: datetime) -> Decided:
    """Answer `unknown_task` to each update that waited `wait` for a task id never created; a
    task known by now gets its updates instead."""
    if slot.record is not None:
        return release_parked(slot, policy, now)
    if not slot.parked.expired_at(now, wait):
        return Decision(slot)
    answers = tuple(
        Answer(
            update.source,
            RejectionCode.UNKNOWN_TASK,
            f"no task {update.change.task_id} is known; the update waited "
            f"{wait.total_seconds():.0f} s for it",
        )
        for update in slot.parked.updates
    )
    return Decision(TaskSlot(None, NO_PARKED_UPDATES), answers, Outcome.PARKED_UPDATES_REJECTED)


def _changed_status(
    record: TaskRecord, change: TaskStatusChange, policy: Policy, now: datetime
) -> tuple[TaskRecord, tuple[Output, ...]]:
    """The record after an agency's update; no outputs for a repeat (also one the task has
    moved past since: read again after a crash, it must change nothing)."""
    if record.has_applied(change):
        return record, ()
    transition = apply_status_change(record.task, change)
    if not transition.changed:
        return record, ()
    task = transition.task
    outputs: list[Output] = []
    if task.status in ESCALATING:
        outputs.append(
            _escalation(
                task,
                ESCALATING[task.status],
                f"{task.recipient} {task.status.value} {task.action}: {task.status_reason}",
                now,
            )
        )
        task = amended(task, escalated=True)
    applied = (*record.applied, AppliedUpdate.of(change))
    stored, progress = _stored(record, task, applied, now)
    return stored, (*outputs, progress)


def _stored(
    previous: TaskRecord,
    task: SanctionTask,
    applied: tuple[AppliedUpdate, ...],
    now: datetime,
) -> tuple[TaskRecord, Progress]:
    """The record of a changed task, its revision one up, and the change for completion."""
    task = amended(task, revision=previous.task.revision + 1)
    record = amended(previous, task=task, applied=applied[-MAX_APPLIED_KEPT:])
    event = TaskEvent(
        event="task",
        incident_id=task.incident_id,
        incident_version=task.incident_version,
        policy_version=task.policy_version,
        partnership=task.partnership,
        tasks=(TaskLine.of(task),),
        at=now,
    )
    return record, Progress(event)


def _escalation(
    task: SanctionTask,
    reason: EscalationReason,
    message: str,
    now: datetime,
    level: EscalationLevel = EscalationLevel.ESCALATION,
) -> Escalate:
    return Escalate(
        Escalation(
            task_id=task.task_id,
            incident_id=task.incident_id,
            recipient=task.recipient,
            reason=reason,
            level=level,
            deadline=task.deadline,
            detected_at=now,
            message=message[:2000],
            partnership=task.partnership,
        )
    )

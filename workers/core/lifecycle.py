"""The task lifecycle (DESIGN §5): which status changes are accepted, and from whom."""

from dataclasses import dataclass
from datetime import datetime

from schemas.common import amended
from schemas.rejection import Refused, RejectionCode
from schemas.task import TERMINAL_STATUSES, SanctionTask, TaskStatus, TaskStatusChange

PROGRESSION: tuple[TaskStatus, ...] = (
    TaskStatus.CREATED,
    TaskStatus.DELIVERED,
    TaskStatus.ACKNOWLEDGED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.COMPLETED,
)
AGENCY_EXITS = frozenset({TaskStatus.DECLINED, TaskStatus.FAILED})


class TransitionRejected(Refused):
    """A status change that the lifecycle does not accept."""

    code = RejectionCode.INVALID_TRANSITION


class InvalidTransition(TransitionRejected):
    """A change backwards, out of a terminal state, or to a state only the system may set."""

    def __init__(self, task: SanctionTask, target: TaskStatus, why: str) -> None:
        self.task_id = task.task_id
        self.current = task.status
        self.target = target
        super().__init__(
            f"task {task.task_id}: {task.status.value} → {target.value} is not allowed: {why}"
        )


class WrongRecipient(TransitionRejected):
    """An update from an agency that is not the task's recipient."""

    code = RejectionCode.WRONG_AGENCY

    def __init__(self, task: SanctionTask, reporter: str) -> None:
        self.task_id = task.task_id
        self.reporter = reporter
        super().__init__(
            f"task {task.task_id} belongs to {task.recipient}; {reporter} may not update it"
        )


@dataclass(frozen=True)
class Transition:
    """The task after an accepted update; `changed` is False for a repeated update (a no-op)."""

    task: SanctionTask
    changed: bool


def _rank(status: TaskStatus) -> int:
    return PROGRESSION.index(status)


def _moved(
    task: SanctionTask, status: TaskStatus, at: datetime, reason: str | None
) -> SanctionTask:
    return amended(task, status=status, status_reason=reason, status_changed_at=at)


def apply_status_change(task: SanctionTask, change: TaskStatusChange) -> Transition:
    """Apply an agency's status report to its task, or raise a TransitionRejected."""
    if change.task_id != task.task_id:
        raise ValueError(f"update for {change.task_id} applied to task {task.task_id}")
    if change.recipient != task.recipient:
        raise WrongRecipient(task, change.recipient)
    target = change.status
    if target == task.status:
        return Transition(task=task, changed=False)
    refused = why_refused(task.status, target)
    if refused is not None:
        raise InvalidTransition(task, target, refused)
    return Transition(task=_moved(task, target, change.changed_at, change.reason), changed=True)


def why_refused(current: TaskStatus, target: TaskStatus) -> str | None:
    """Why an agency may not move a task from `current` to `target`; None when it may (the
    same status again is a no-op, not a refusal)."""
    if target == current:
        return None
    if current in TERMINAL_STATUSES:
        return f"{current.value} is terminal"
    if target is TaskStatus.CANCELLED:
        return "only the system cancels a task"
    if target in AGENCY_EXITS:
        return None
    if _rank(target) < _rank(current):
        return "a task does not move backwards"
    return None


def mark_delivered(task: SanctionTask, at: datetime) -> Transition:
    """The system's record that the task reached its recipient; later states are left alone."""
    if task.status is not TaskStatus.CREATED:
        return Transition(task=task, changed=False)
    return Transition(task=_moved(task, TaskStatus.DELIVERED, at, None), changed=True)


def cancel(task: SanctionTask, reason: str, at: datetime) -> Transition:
    """The system's cancellation of an open task; a closed task stays as it is."""
    if task.status in TERMINAL_STATUSES:
        return Transition(task=task, changed=False)
    return Transition(task=_moved(task, TaskStatus.CANCELLED, at, reason), changed=True)


def mark_overdue(task: SanctionTask, now: datetime) -> Transition:
    """Set the overdue flag on an open task past its deadline."""
    if task.overdue or not task.is_overdue_at(now):
        return Transition(task=task, changed=False)
    return Transition(task=amended(task, overdue=True), changed=True)


def moves_on(current: TaskStatus, reported: TaskStatus) -> bool:
    """Whether `reported` is later in a task's life than `current` (never out of a terminal
    state; a terminal state is later than any open one)."""
    if current in TERMINAL_STATUSES or reported == current:
        return False
    if reported in TERMINAL_STATUSES:
        return True
    return PROGRESSION.index(reported) > PROGRESSION.index(current)

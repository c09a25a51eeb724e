"""The task lifecycle of DESIGN §5."""

from datetime import timedelta

import pytest

from schemas import SanctionTask, TaskStatus, TaskStatusChange
from tests.support.builders import T0, group, incident
from workers.core.lifecycle import (
    InvalidTransition,
    WrongRecipient,
    apply_status_change,
    cancel,
    mark_delivered,
    mark_overdue,
)
from workers.core.planner import plan
from workers.policies import load_policy

POLICY = load_policy()
TASK = next(
    task
    for task in plan(incident(), {"GRP-TEST-A": group()}, {}, POLICY).tasks
    if task.recipient == "skatteverket"
)


def _update(
    task: SanctionTask,
    status: TaskStatus,
    *,
    recipient: str | None = None,
    reason: str | None = None,
) -> TaskStatusChange:
    return TaskStatusChange(
        task_id=task.task_id,
        recipient=recipient or task.recipient,
        status=status,
        changed_at=T0 + timedelta(hours=2),
        reported_by="handlaggare-17",
        reason=reason,
    )


def _at(status: TaskStatus) -> SanctionTask:
    return TASK.model_copy(update={"status": status})


def test_forward_path_to_completed() -> None:
    task = TASK
    for status in (
        TaskStatus.DELIVERED,
        TaskStatus.ACKNOWLEDGED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.COMPLETED,
    ):
        transition = apply_status_change(task, _update(task, status))
        assert transition.changed
        task = transition.task
        assert task.status is status
        assert task.status_changed_at == T0 + timedelta(hours=2)


def test_skipping_forward_is_accepted() -> None:
    assert (
        apply_status_change(TASK, _update(TASK, TaskStatus.COMPLETED)).task.status
        is TaskStatus.COMPLETED
    )


def test_repeated_update_is_a_no_op() -> None:
    acknowledged = _at(TaskStatus.ACKNOWLEDGED)
    transition = apply_status_change(acknowledged, _update(acknowledged, TaskStatus.ACKNOWLEDGED))
    assert not transition.changed and transition.task == acknowledged
    completed = _at(TaskStatus.COMPLETED)
    assert not apply_status_change(completed, _update(completed, TaskStatus.COMPLETED)).changed


def test_backwards_is_rejected() -> None:
    in_progress = _at(TaskStatus.IN_PROGRESS)
    with pytest.raises(InvalidTransition, match="does not move backwards"):
        apply_status_change(in_progress, _update(in_progress, TaskStatus.ACKNOWLEDGED))


@pytest.mark.parametrize(
    "terminal", [TaskStatus.COMPLETED, TaskStatus.DECLINED, TaskStatus.FAILED, TaskStatus.CANCELLED]
)
def test_terminal_states_do_not_reopen(terminal: TaskStatus) -> None:
    closed = _at(terminal)
    with pytest.raises(InvalidTransition, match="is terminal"):
        apply_status_change(closed, _update(closed, TaskStatus.IN_PROGRESS))


def test_wrong_agency_is_rejected() -> None:
    with pytest.raises(WrongRecipient, match="belongs to skatteverket; kronofogden may not"):
        apply_status_change(TASK, _update(TASK, TaskStatus.ACKNOWLEDGED, recipient="kronofogden"))


def test_agency_cannot_cancel() -> None:
    with pytest.raises(InvalidTransition, match="only the system cancels"):
        apply_status_change(TASK, _update(TASK, TaskStatus.CANCELLED))


@pytest.mark.parametrize("exit_status", [TaskStatus.DECLINED, TaskStatus.FAILED])
def test_decline_and_failure_carry_the_reason(exit_status: TaskStatus) -> None:
    in_progress = _at(TaskStatus.IN_PROGRESS)
    moved = apply_status_change(
        in_progress, _update(in_progress, exit_status, reason="no jurisdiction")
    ).task
    assert moved.status is exit_status and moved.status_reason == "no jurisdiction"


def test_system_transitions() -> None:
    delivered = mark_delivered(TASK, T0)
    assert delivered.changed and delivered.task.status is TaskStatus.DELIVERED
    assert not mark_delivered(_at(TaskStatus.ACKNOWLEDGED), T0).changed
    cancelled = cancel(TASK, "incident retracted", T0)
    assert (
        cancelled.task.status is TaskStatus.CANCELLED
        and cancelled.task.status_reason == "incident retracted"
    )
    assert not cancel(_at(TaskStatus.COMPLETED), "late", T0).changed


def test_overdue_is_a_flag_on_open_tasks_only() -> None:
    after_deadline = TASK.deadline + timedelta(minutes=1)
    flagged = mark_overdue(TASK, after_deadline)
    assert flagged.changed and flagged.task.overdue and flagged.task.status is TaskStatus.CREATED
    assert not mark_overdue(TASK, TASK.deadline - timedelta(minutes=1)).changed
    assert not mark_overdue(_at(TaskStatus.COMPLETED), after_deadline).changed

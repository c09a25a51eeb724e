"""Updates parked for a task not yet known, and updates a task record knows it has applied."""

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from events.codec import decode_with, encode
from schemas import RejectionCode, TaskStatus, TaskStatusChange
from schemas.rejection import Refused
from tests.support.builders import T0, group, incident
from workers.core.messages import (
    TASK_COMMAND,
    CancelTask,
    CreateTasks,
    ExpireParkedUpdates,
    MarkOverdue,
    SourceRef,
)
from workers.core.planner import plan
from workers.core.projection import context_for
from workers.core.records import AppliedUpdate, ParkedUpdate, ParkedUpdates, TaskRecord
from workers.policies import load_policy

SOURCE = SourceRef(topic="gvi.task-updates.skatteverket", partition=2, offset=41, key="k")
WAIT = timedelta(minutes=10)


def _acknowledged(task_id: UUID, recipient: str = "skatteverket") -> TaskStatusChange:
    return TaskStatusChange(
        task_id=task_id,
        recipient=recipient,
        status=TaskStatus.ACKNOWLEDGED,
        changed_at=T0,
        reported_by="officer-invented-1",
    )


def _parked(*minutes_ago: int) -> ParkedUpdates:
    task_id = uuid4()
    return ParkedUpdates(
        updates=tuple(
            ParkedUpdate(
                change=_acknowledged(task_id),
                source=SOURCE,
                parked_at=T0 - timedelta(minutes=ago),
            )
            for ago in minutes_ago
        )
    )


def test_the_oldest_update_decides_when_the_wait_is_over() -> None:
    assert _parked(10, 1).expired_at(T0, WAIT)
    assert not _parked(9, 1).expired_at(T0, WAIT)


def test_nothing_parked_never_expires() -> None:
    assert not ParkedUpdates().expired_at(T0 + timedelta(days=365), WAIT)


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_expiry_is_exactly_the_wait_after_parking(minutes_ago: int, wait_minutes: int) -> None:
    expired = _parked(minutes_ago).expired_at(T0, timedelta(minutes=wait_minutes))
    assert expired == (minutes_ago >= wait_minutes)


@pytest.mark.parametrize(
    "command",
    [
        CancelTask(task_id=uuid4(), incident_version=2, reason="retracted", at=T0, source=SOURCE),
        MarkOverdue(task_id=uuid4(), at=T0),
        ExpireParkedUpdates(task_id=uuid4(), at=T0),
    ],
    ids=lambda command: command.command,
)
def test_each_task_command_decodes_as_its_own_variant(
    command: CancelTask | MarkOverdue | ExpireParkedUpdates,
) -> None:
    assert decode_with(TASK_COMMAND, encode(command), outside=False) == command


def test_a_command_to_keep_tasks_carries_at_least_one() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        CreateTasks(tasks=(), source=SOURCE)


def test_a_command_of_no_known_kind_is_refused() -> None:
    with pytest.raises(Refused) as refused:
        decode_with(TASK_COMMAND, b'{"command": "create_again", "task_id": "x"}', outside=False)
    assert refused.value.code is RejectionCode.SCHEMA_VIOLATION


def _record(applied: tuple[AppliedUpdate, ...]) -> TaskRecord:
    policy = load_policy()
    reported, profile = incident(), group()
    task = plan(reported, {profile.group_id: profile}, {}, policy).tasks[0]
    return TaskRecord(
        task=task, context=context_for(task, reported, profile, policy), applied=applied
    )


def test_a_task_record_knows_the_updates_applied_to_it() -> None:
    task = _record(()).task
    report = _acknowledged(task.task_id, task.recipient)
    record = _record((AppliedUpdate.of(report),))
    assert record.has_applied(report)
    assert not record.has_applied(report.model_copy(update={"changed_at": T0 + WAIT}))
    assert not record.has_applied(report.model_copy(update={"status": TaskStatus.IN_PROGRESS}))
    assert not _record(()).has_applied(report)


def test_an_update_read_again_is_parked_once_but_an_identical_resend_gets_its_own_answer() -> None:
    task_id = uuid4()
    first = ParkedUpdate(change=_acknowledged(task_id), source=SOURCE, parked_at=T0)
    waiting = ParkedUpdates().with_update(first, limit=20)
    assert waiting.with_update(first, limit=20) == waiting
    resent = first.model_copy(update={"source": SOURCE.model_copy(update={"offset": 42})})
    assert [u.source.offset for u in waiting.with_update(resent, limit=20).updates] == [41, 42]


def test_parking_refuses_past_its_limit() -> None:
    task_id = uuid4()
    waiting = ParkedUpdates()
    for offset in range(3):
        source = SOURCE.model_copy(update={"offset": offset})
        waiting = waiting.with_update(
            ParkedUpdate(change=_acknowledged(task_id), source=source, parked_at=T0), limit=3
        )
    extra = ParkedUpdate(
        change=_acknowledged(task_id), source=SOURCE.model_copy(update={"offset": 9}), parked_at=T0
    )
    with pytest.raises(Refused) as caught:
        waiting.with_update(extra, limit=3)
    assert caught.value.code is RejectionCode.UNKNOWN_TASK

"""The task agent's decisions, called directly: keep, update, park, cancel, overdue, expiry."""

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import RejectionCode, TaskStatus, TaskStatusChange
from schemas.escalation import EscalationLevel, EscalationReason
from schemas.rejection import Refused
from schemas.task import RecipientTaskView
from tests.support.builders import T0, group, incident
from workers.core.lifecycle import mark_delivered
from workers.core.messages import CancelTask, MarkDelivered, NewTask, RemindTask, SourceRef
from workers.core.outputs import Answer, Disclosure, Escalate, Progress
from workers.core.planner import plan
from workers.core.projection import context_for, view_of
from workers.core.tasks import (
    MAX_PARKED_PER_TASK,
    Decided,
    TaskSlot,
    cancel_task,
    expire_parked,
    flag_overdue,
    keep_created,
    redelivery,
    remind,
    reminder_due_at,
    take_delivery,
    take_update,
)
from workers.policies import load_policy
from workers.stream.stores import not_yet_sent, past_deadline, past_reminder

POLICY = load_policy()
WAIT = timedelta(minutes=10)
FORWARD = (TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)


def _new_task() -> NewTask:
    reported, profile = incident(), group()
    task = plan(reported, {profile.group_id: profile}, {}, POLICY).tasks[0]
    task = mark_delivered(task, T0).task.model_copy(update={"revision": 1})
    return NewTask(task=task, context=context_for(task, reported, profile, POLICY))


NEW = _new_task()
REPORTER = NEW.task.recipient
"""The agency whose status topic the updates are read from."""


def _source(offset: int) -> SourceRef:
    return SourceRef(
        topic=f"gvi.task-updates.{REPORTER}", partition=0, offset=offset, key=str(NEW.task.task_id)
    )


def _change(status: TaskStatus, minutes: int = 1, recipient: str | None = None) -> TaskStatusChange:
    return TaskStatusChange(
        task_id=NEW.task.task_id,
        recipient=recipient or NEW.task.recipient,
        status=status,
        changed_at=T0 + timedelta(minutes=minutes),
        reported_by="officer-invented-7",
        reason="invented reason" if status in (TaskStatus.DECLINED, TaskStatus.FAILED) else None,
    )


def _kept() -> TaskSlot:
    return keep_created(TaskSlot(), NEW, POLICY, T0).slot


def test_a_dispatched_task_is_kept_without_sending_anything() -> None:
    decided = keep_created(TaskSlot(), NEW, POLICY, T0)
    assert decided.outputs == ()
    assert decided.slot.record is not None and decided.slot.record.task == NEW.task


def test_keeping_a_known_task_again_changes_nothing() -> None:
    moved = take_update(
        _kept(), _change(TaskStatus.ACKNOWLEDGED), REPORTER, _source(1), POLICY, T0
    ).slot
    again = keep_created(moved, NEW, POLICY, T0)
    assert again.slot == moved and again.outputs == ()


def test_an_update_before_its_task_is_parked_and_applied_when_the_task_is_kept() -> None:
    slot = TaskSlot()
    for offset, status in enumerate(FORWARD):
        slot = take_update(
            slot, _change(status, offset + 1), REPORTER, _source(offset), POLICY, T0
        ).slot
    assert slot.record is None and len(slot.parked.updates) == 3
    decided = keep_created(slot, NEW, POLICY, T0)
    assert decided.slot.record is not None
    assert decided.slot.record.task.status is TaskStatus.COMPLETED
    assert decided.slot.parked.updates == ()
    assert [o.event.tasks[0].status for o in decided.outputs if isinstance(o, Progress)] == list(
        FORWARD
    )


def test_a_parked_update_that_the_lifecycle_refuses_is_answered_where_it_was_read() -> None:
    other = "kronofogden" if NEW.task.recipient != "kronofogden" else "skatteverket"
    wrong = _change(TaskStatus.ACKNOWLEDGED, recipient=other)
    slot = take_update(TaskSlot(), wrong, other, _source(5), POLICY, T0).slot
    decided = keep_created(slot, NEW, POLICY, T0)
    [answer] = decided.outputs
    assert isinstance(answer, Answer)
    assert answer.source == _source(5) and answer.code is RejectionCode.WRONG_AGENCY


def test_parking_is_bounded() -> None:
    slot = TaskSlot()
    for offset in range(MAX_PARKED_PER_TASK):
        slot = take_update(
            slot, _change(TaskStatus.ACKNOWLEDGED), REPORTER, _source(offset), POLICY, T0
        ).slot
    with pytest.raises(Refused) as refused:
        take_update(slot, _change(TaskStatus.ACKNOWLEDGED), REPORTER, _source(999), POLICY, T0)
    assert refused.value.code is RejectionCode.UNKNOWN_TASK


def test_a_declined_task_escalates_once() -> None:
    decided = take_update(_kept(), _change(TaskStatus.DECLINED), REPORTER, _source(1), POLICY, T0)
    escalations = [o for o in decided.outputs if isinstance(o, Escalate)]
    assert [e.escalation.reason for e in escalations] == [EscalationReason.DECLINED]
    assert decided.slot.record is not None and decided.slot.record.task.escalated
    again = take_update(
        decided.slot, _change(TaskStatus.DECLINED), REPORTER, _source(2), POLICY, T0
    )
    assert again.outputs == ()


def test_a_backward_update_is_refused() -> None:
    done = take_update(
        _kept(), _change(TaskStatus.COMPLETED), REPORTER, _source(1), POLICY, T0
    ).slot
    with pytest.raises(Refused) as refused:
        take_update(
            done, _change(TaskStatus.ACKNOWLEDGED, minutes=9), REPORTER, _source(2), POLICY, T0
        )
    assert refused.value.code is RejectionCode.INVALID_TRANSITION


def _cancel(reason: str = "incident retracted") -> CancelTask:
    return CancelTask(
        task_id=NEW.task.task_id, incident_version=3, reason=reason, at=T0, source=_source(0)
    )


def test_a_cancellation_is_disclosed_to_the_recipient_once() -> None:
    decided = cancel_task(_kept(), _cancel(), POLICY)
    [disclosure] = [o for o in decided.outputs if isinstance(o, Disclosure)]
    assert disclosure.view.status is TaskStatus.CANCELLED
    [progress] = [o for o in decided.outputs if isinstance(o, Progress)]
    assert progress.event.incident_version == 3
    assert cancel_task(decided.slot, _cancel(), POLICY).outputs == ()


def test_a_cancellation_of_an_unknown_task_is_refused() -> None:
    with pytest.raises(Refused) as refused:
        cancel_task(TaskSlot(), _cancel(), POLICY)
    assert refused.value.code is RejectionCode.UNKNOWN_TASK


def test_an_overdue_task_is_flagged_and_escalated_once() -> None:
    late = NEW.task.deadline + timedelta(seconds=1)
    assert flag_overdue(_kept(), POLICY, NEW.task.deadline).outputs == ()
    decided = flag_overdue(_kept(), POLICY, late)
    assert [type(o) for o in decided.outputs] == [Escalate, Progress]
    assert decided.slot.record is not None and decided.slot.record.task.overdue
    assert flag_overdue(decided.slot, POLICY, late).outputs == ()


def test_parked_updates_are_answered_unknown_task_after_the_wait() -> None:
    slot = TaskSlot()
    for offset in range(2):
        slot = take_update(
            slot, _change(TaskStatus.ACKNOWLEDGED), REPORTER, _source(offset), POLICY, T0
        ).slot
    assert expire_parked(slot, WAIT, POLICY, T0 + WAIT - timedelta(seconds=1)).outputs == ()
    decided = expire_parked(slot, WAIT, POLICY, T0 + WAIT)
    assert [o.source.offset for o in decided.outputs if isinstance(o, Answer)] == [0, 1]
    assert all(
        isinstance(o, Answer) and o.code is RejectionCode.UNKNOWN_TASK for o in decided.outputs
    )
    assert decided.slot == TaskSlot()


def test_expiry_of_a_task_known_by_now_applies_its_updates_instead() -> None:
    slot = take_update(
        TaskSlot(), _change(TaskStatus.ACKNOWLEDGED), REPORTER, _source(0), POLICY, T0
    ).slot
    known = TaskSlot(_kept().record, slot.parked)
    decided = expire_parked(known, WAIT, POLICY, T0 + WAIT)
    assert decided.slot.record is not None
    assert decided.slot.record.task.status is TaskStatus.ACKNOWLEDGED
    assert not any(isinstance(o, Answer) for o in decided.outputs)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(FORWARD), min_size=1, max_size=3, unique=True),
    st.data(),
)
def test_updates_read_again_change_nothing_and_revisions_only_grow(
    statuses: list[TaskStatus], data: st.DataObject
) -> None:
    ordered = sorted(statuses, key=FORWARD.index)
    changes = [_change(status, n + 1) for n, status in enumerate(ordered)]
    slot = _kept()
    revisions = [1]
    for offset, change in enumerate(changes):
        slot = take_update(slot, change, REPORTER, _source(offset), POLICY, T0).slot
        assert slot.record is not None
        revisions.append(slot.record.task.revision)
    assert revisions == sorted(set(revisions)), "every stored change counts the revision up"
    replayed = data.draw(st.lists(st.sampled_from(changes), max_size=6))
    for offset, change in enumerate(replayed):
        again = take_update(slot, change, REPORTER, _source(100 + offset), POLICY, T0)
        assert again.outputs == () and again.slot == slot


def test_the_timers_cheap_filter_agrees_with_the_parsed_record() -> None:
    stored = _kept().record
    assert stored is not None
    raw = stored.model_dump_json().encode()
    deadline = stored.task.deadline
    assert not past_deadline(deadline - timedelta(seconds=1))(raw)
    assert past_deadline(deadline + timedelta(seconds=1))(raw)
    flagged = flag_overdue(_kept(), POLICY, deadline + timedelta(seconds=1)).slot.record
    assert flagged is not None
    assert not past_deadline(deadline + timedelta(days=1))(flagged.model_dump_json().encode())


def _kept_undelivered() -> TaskSlot:
    """A task planned while its recipient's topic took no messages: kept as created."""
    created = NEW.model_copy(
        update={"task": plan(incident(), {"GRP-TEST-A": group()}, {}, POLICY).tasks[0]}
    )
    created = created.model_copy(update={"task": created.task.model_copy(update={"revision": 1})})
    return keep_created(TaskSlot(), created, POLICY, T0).slot


def test_a_task_kept_as_created_is_sent_later_as_delivered_then_marked_delivered() -> None:
    slot = _kept_undelivered()
    assert slot.record is not None and slot.record.task.status is TaskStatus.CREATED
    later = T0 + timedelta(minutes=5)
    disclosure = redelivery(slot.record, POLICY, later)
    assert disclosure is not None
    assert disclosure.view.status is TaskStatus.DELIVERED
    assert disclosure.audit.task_id == NEW.task.task_id
    decided = take_delivery(slot, MarkDelivered(task_id=NEW.task.task_id, at=later), POLICY)
    assert decided.slot.record is not None
    assert decided.slot.record.task.status is TaskStatus.DELIVERED
    assert decided.slot.record.task.revision == 2
    assert [type(o) for o in decided.outputs] == [Progress]
    assert redelivery(decided.slot.record, POLICY, later) is None
    again = take_delivery(decided.slot, MarkDelivered(task_id=NEW.task.task_id, at=later), POLICY)
    assert again.outputs == ()


def test_the_late_disclosure_has_the_audit_id_of_the_first_attempt() -> None:
    slot = _kept_undelivered()
    assert slot.record is not None
    first = Disclosure.of(slot.record.task, disclosure_view(slot), "created", T0)
    late = redelivery(slot.record, POLICY, T0 + timedelta(hours=1))
    assert late is not None and late.audit.audit_id == first.audit.audit_id


def disclosure_view(slot: TaskSlot) -> RecipientTaskView:
    assert slot.record is not None
    return view_of(slot.record.task, slot.record.context, POLICY)


def test_an_undelivered_task_cancelled_is_not_disclosed_to_its_recipient() -> None:
    decided = cancel_task(_kept_undelivered(), _cancel(), POLICY)
    assert [type(o) for o in decided.outputs] == [Progress]
    assert decided.slot.record is not None
    assert decided.slot.record.task.status is TaskStatus.CANCELLED


def test_a_task_cancelled_while_it_was_being_sent_late_is_cancelled_at_its_recipient() -> None:
    cancelled = cancel_task(_kept_undelivered(), _cancel(), POLICY).slot
    decided = take_delivery(cancelled, MarkDelivered(task_id=NEW.task.task_id, at=T0), POLICY)
    [told] = decided.outputs
    assert isinstance(told, Disclosure) and told.view.status is TaskStatus.CANCELLED
    assert decided.slot == cancelled


def test_the_timers_cheap_filter_finds_exactly_the_tasks_not_yet_sent() -> None:
    waiting, sent = _kept_undelivered().record, _kept().record
    assert waiting is not None and sent is not None
    assert not_yet_sent(waiting.model_dump_json().encode())
    assert not not_yet_sent(sent.model_dump_json().encode())


def _remind(slot: TaskSlot, at: datetime) -> Decided:
    return remind(slot, RemindTask(task_id=NEW.task.task_id, at=at), POLICY)


def test_a_task_is_reminded_once_at_the_policys_share_of_its_time_to_the_deadline() -> None:
    due = reminder_due_at(NEW.task, POLICY)
    assert due is not None and POLICY.reminder_share == 0.75
    assert due == NEW.task.created_at + (NEW.task.deadline - NEW.task.created_at) * 0.75
    assert _remind(_kept(), due - timedelta(seconds=1)).outputs == ()
    decided = _remind(_kept(), due)
    [reminder] = decided.outputs
    assert isinstance(reminder, Escalate)
    assert reminder.escalation.level is EscalationLevel.REMINDER
    assert reminder.escalation.reason is EscalationReason.DEADLINE_APPROACHING
    assert reminder.escalation.deadline == NEW.task.deadline
    assert decided.slot.record is not None and decided.slot.record.reminded_at == due
    assert decided.slot.record.task == NEW.task, "a reminder changes no state of the task"
    assert _remind(decided.slot, due + timedelta(minutes=1)).outputs == ()


def test_the_reminder_survives_later_changes_and_the_escalation_still_comes_once() -> None:
    due = reminder_due_at(NEW.task, POLICY)
    assert due is not None
    reminded = _remind(_kept(), due).slot
    moved = take_update(
        reminded, _change(TaskStatus.ACKNOWLEDGED), REPORTER, _source(0), POLICY, due
    )
    assert moved.slot.record is not None and moved.slot.record.reminded_at == due
    assert _remind(moved.slot, due + timedelta(seconds=1)).outputs == ()
    late = NEW.task.deadline + timedelta(seconds=1)
    escalated = flag_overdue(moved.slot, POLICY, late)
    [escalation] = [o for o in escalated.outputs if isinstance(o, Escalate)]
    assert escalation.escalation.level is EscalationLevel.ESCALATION
    assert escalation.escalation.reason is EscalationReason.OVERDUE


def test_no_reminder_for_a_closed_or_overdue_task_or_without_a_share() -> None:
    due = reminder_due_at(NEW.task, POLICY)
    assert due is not None
    done = take_update(
        _kept(), _change(TaskStatus.COMPLETED), REPORTER, _source(0), POLICY, T0
    ).slot
    assert _remind(done, due).outputs == ()
    assert _remind(_kept(), NEW.task.deadline).outputs == (), "past the deadline: escalation"
    assert _remind(TaskSlot(), due).outputs == ()
    silent = POLICY.model_copy(update={"reminder_share": None})
    assert reminder_due_at(NEW.task, silent) is None
    command = RemindTask(task_id=NEW.task.task_id, at=due)
    assert remind(_kept(), command, silent).outputs == ()


@given(st.floats(min_value=0.01, max_value=0.99), st.integers(min_value=-3, max_value=3))
def test_the_timers_cheap_reminder_filter_agrees_with_the_decision(share: float, hour: int) -> None:
    policy = POLICY.model_copy(update={"reminder_share": share})
    stored = _kept().record
    assert stored is not None
    due = reminder_due_at(stored.task, policy)
    assert due is not None
    at = due + timedelta(hours=hour)
    decided = remind(_kept(), RemindTask(task_id=NEW.task.task_id, at=at), policy)
    assert past_reminder(at, share)(stored.model_dump_json().encode()) == bool(decided.outputs)
    if decided.slot.record is not None and decided.outputs:
        raw = decided.slot.record.model_dump_json().encode()
        assert not past_reminder(at, share)(raw), "a reminded task is never a candidate again"


def test_an_update_naming_another_agency_than_its_topic_is_refused_before_parking() -> None:
    for slot in (TaskSlot(), _kept()):
        with pytest.raises(Refused) as refused:
            take_update(
                slot, _change(TaskStatus.ACKNOWLEDGED), "kronofogden", _source(1), POLICY, T0
            )
        assert refused.value.code is RejectionCode.WRONG_AGENCY
        assert "kronofogden's status topic" in refused.value.message


def test_an_agency_reporting_on_another_agencys_task_from_its_own_topic_is_refused() -> None:
    other = "kronofogden" if REPORTER != "kronofogden" else "skatteverket"
    with pytest.raises(Refused) as refused:
        take_update(
            _kept(), _change(TaskStatus.COMPLETED, recipient=other), other, _source(1), POLICY, T0
        )
    assert refused.value.code is RejectionCode.WRONG_AGENCY

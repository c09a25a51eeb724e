"""The deadline timer skips its pass over the task table only while nothing can be due: the
core's `next_attention`, the bytes' `attention_at` and the `DueWatch` that keeps them."""

import contextlib
import math
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas import TaskStatus, TaskStatusChange
from tests.support.builders import T0, group, incident
from workers.core.deadlines import next_attention, overdue, reminders
from workers.core.lifecycle import TransitionRejected, mark_delivered
from workers.core.messages import NewTask, RemindTask, SourceRef
from workers.core.planner import plan
from workers.core.projection import context_for
from workers.core.records import TaskRecord
from workers.core.tasks import TaskSlot, flag_overdue, keep_created, remind, take_update
from workers.policies import load_policy
from workers.stream.due_watch import DueWatch
from workers.stream.stores import attention_at, past_deadline, past_reminder, stored_json

POLICY = load_policy()
REPORTED, PROFILE = incident(), group()
TASK = mark_delivered(plan(REPORTED, {PROFILE.group_id: PROFILE}, {}, POLICY).tasks[0], T0).task
NEW = NewTask(task=TASK, context=context_for(TASK, REPORTED, PROFILE, POLICY))
SPAN = TASK.deadline - TASK.created_at
STEPS = ("reminded", "overdue", "completed", "in_progress")


def _record(steps: list[str], share: float) -> TaskRecord:
    """The task kept, then taken through `steps` in order, each at a moment it can happen."""
    policy = POLICY.model_copy(update={"reminder_share": share})
    slot = keep_created(TaskSlot(), NEW, policy, T0).slot
    for n, step in enumerate(steps):
        if step == "reminded":
            at = TASK.created_at + SPAN * share
            slot = remind(slot, RemindTask(task_id=TASK.task_id, at=at), policy).slot
        elif step == "overdue":
            slot = flag_overdue(slot, policy, TASK.deadline + timedelta(seconds=1)).slot
        else:
            change = TaskStatusChange(
                task_id=TASK.task_id,
                recipient=TASK.recipient,
                status=TaskStatus(step),
                changed_at=T0 + timedelta(minutes=n + 1),
                reported_by="officer-invented-3",
            )
            source = SourceRef(topic="t", partition=0, offset=n, key=str(TASK.task_id))
            with contextlib.suppress(TransitionRejected):  # e.g. after completed: stays so
                slot = take_update(slot, change, TASK.recipient, source, policy, T0).slot
    assert slot.record is not None
    return slot.record


def _acts(record: TaskRecord, share: float, at: datetime) -> bool:
    """Whether the timer acts on the task at `at`: its bytes pass the cheap filter, and the
    core decides to flag or remind it."""
    policy = POLICY.model_copy(update={"reminder_share": share})
    kept, stored = [(str(TASK.task_id), record)], stored_json(record)
    mine = lambda key: True  # noqa: E731
    late = past_deadline(at)(stored) and overdue(kept, mine, at)
    due = past_reminder(at, share)(stored) and reminders(kept, mine, lambda task: policy, at)
    return bool(late or due)


shares = st.floats(min_value=0.01, max_value=0.99)
steps = st.lists(st.sampled_from(STEPS), max_size=3, unique=True)
offsets = st.floats(min_value=-2.0, max_value=2.0)


@given(steps, shares, offsets)
def test_nothing_acts_on_a_task_before_its_next_attention(
    taken: list[str], share: float, offset: float
) -> None:
    record = _record(taken, share)
    policy = POLICY.model_copy(update={"reminder_share": share})
    moment = next_attention(record, policy)
    at = TASK.created_at + SPAN * (share + offset)
    if moment is None or at < moment:
        assert not _acts(record, share, at)
    if moment is not None:
        just_after = moment + timedelta(microseconds=1)
        assert _acts(record, share, just_after), "the moment is the first one, not just a bound"


@given(steps, shares, st.floats(min_value=0.0, max_value=1.0))
def test_the_bytes_never_say_later_than_the_core(
    taken: list[str], share: float, fraction: float
) -> None:
    """With the earliest share of all playbooks (at most the task's own), the stored bytes
    give a moment no later than the core's for the task's playbook."""
    record = _record(taken, share)
    moment = next_attention(record, POLICY.model_copy(update={"reminder_share": share}))
    read = attention_at(stored_json(record), share * fraction)
    assert read == math.inf if moment is None else read <= moment.timestamp()
    exact = attention_at(stored_json(record), share)
    assert exact == (math.inf if moment is None else moment.timestamp())


def test_a_record_the_bytes_say_too_little_about_is_due_at_once() -> None:
    assert attention_at(b'{"task":{"overdue":false}}', 0.5) == -math.inf


STORED = stored_json(_record([], 0.5))
DUE = attention_at(STORED, 0.5)
NOW = DUE - 100.0
EVERYWHERE = lambda key: True  # noqa: E731


def _passed(watch: DueWatch, *stored: bytes, share: float = 0.5) -> None:
    passing = watch.begin(share, True, EVERYWHERE)
    for n, record in enumerate(stored):
        passing.saw(f"TASK-{n}", record, False)
    watch.end(passing)


def test_the_first_tick_passes_and_a_pass_that_found_nothing_due_lets_the_next_skip() -> None:
    watch = DueWatch()
    assert not watch.nothing_due(NOW, 0.5)
    _passed(watch, STORED)
    assert watch.nothing_due(NOW, 0.5)
    assert not watch.nothing_due(DUE, 0.5), "at the moment it may be due, the tick passes"


def test_a_new_earliest_share_a_rebalance_or_a_failed_pass_makes_the_next_tick_pass() -> None:
    watch = DueWatch()
    _passed(watch, STORED)
    assert not watch.nothing_due(NOW, 0.25)
    watch.invalidate()
    assert not watch.nothing_due(NOW, 0.5)
    _passed(watch, STORED)
    watch.abandon(watch.begin(0.5, True, EVERYWHERE))
    assert not watch.nothing_due(NOW, 0.5)


def test_a_pass_before_the_tables_were_recovered_or_across_a_rebalance_is_not_kept() -> None:
    watch = DueWatch()
    early = watch.begin(0.5, False, EVERYWHERE)
    early.saw("TASK-0", STORED, False)
    watch.end(early)
    assert not watch.nothing_due(NOW, 0.5)
    across = watch.begin(0.5, True, EVERYWHERE)
    watch.invalidate()
    across.saw("TASK-0", STORED, False)
    watch.end(across)
    assert not watch.nothing_due(NOW, 0.5)


def test_a_write_brings_the_next_tick_forward_also_when_made_during_a_pass() -> None:
    sooner = _record([], 0.1)
    watch = DueWatch()
    _passed(watch, STORED)
    watch.written(stored_json(sooner))
    assert not watch.nothing_due(attention_at(stored_json(sooner), 0.5), 0.5)
    during = DueWatch()
    passing = during.begin(0.5, True, EVERYWHERE)
    passing.saw("TASK-0", STORED, False)
    during.written(stored_json(sooner))
    during.end(passing)
    assert not during.nothing_due(attention_at(stored_json(sooner), 0.5), 0.5)
    assert during.nothing_due(attention_at(stored_json(sooner), 0.5) - 1, 0.5)


def test_a_task_of_this_worker_waiting_to_be_sent_makes_every_tick_pass() -> None:
    unsent = plan(REPORTED, {PROFILE.group_id: PROFILE}, {}, POLICY).tasks[0]
    kept = keep_created(TaskSlot(), NewTask(task=unsent, context=NEW.context), POLICY, T0)
    assert kept.slot.record is not None and kept.slot.record.task.status is TaskStatus.CREATED
    waiting = stored_json(kept.slot.record)
    watch = DueWatch()
    _passed(watch, STORED, waiting)
    assert not watch.nothing_due(NOW, 0.5)
    elsewhere = DueWatch()
    passing = elsewhere.begin(0.5, True, lambda key: key != "TASK-1")
    passing.saw("TASK-0", STORED, False)
    passing.saw("TASK-1", waiting, False)
    elsewhere.end(passing)
    assert elsewhere.nothing_due(NOW, 0.5), "another worker's partition sends its own"
    elsewhere.written(waiting)
    assert not elsewhere.nothing_due(NOW, 0.5)


def test_a_candidate_is_left_to_the_core_s_exact_moment() -> None:
    """A task due by the earliest share of all playbooks but not by its own: the pass skips its
    bytes, the timer gives the core's moment, and the ticks before it skip."""
    watch = DueWatch()
    now = attention_at(STORED, 0.25) + 1
    passing = watch.begin(0.25, True, EVERYWHERE)
    passing.saw("TASK-0", STORED, True)
    passing.due_at(DUE)
    watch.end(passing)
    assert watch.nothing_due(now + 1, 0.25)
    assert not watch.nothing_due(DUE, 0.25)


def test_a_new_consumer_generation_makes_the_next_tick_pass() -> None:
    watch = DueWatch()
    watch.generation_is(4)
    _passed(watch, STORED)
    assert watch.nothing_due(NOW, 0.5, 4)
    assert not watch.nothing_due(NOW, 0.5, 5), "partitions may have come in without a write"
    watch.generation_is(5)
    assert not watch.nothing_due(NOW, 0.5, 5)
    _passed(watch, STORED)
    assert watch.nothing_due(NOW, 0.5, 5)

"""Intake's outputs, completion's merge of task events, and outputs turned into Kafka messages."""

import json
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import build_catalogue
from events.codec import decode_internal, encode
from schemas import IncidentRetracted, RejectionCode, TaskStatus
from schemas.escalation import Escalation, EscalationReason
from schemas.task import SanctionTask
from tests.support.builders import T0, attribution, group, incident
from workers.core.completion import IncidentSlot, progress_after
from workers.core.intake import admit, work_for_groups
from workers.core.messages import (
    CancelTask,
    PlanForGroup,
    RetractForGroup,
    SourceRef,
    TaskEvent,
    TaskLine,
)
from workers.core.outputs import Answer, Escalate, HandToGroup, Instruct, Progress, Snapshot
from workers.core.planner import plan
from workers.policies import load_policy
from workers.stream.outbound import MAX_KEY_CHARS, messages_of

POLICY = load_policy()
SOURCE = SourceRef(topic="gvi.incidents", partition=3, offset=9, key="INC-TEST-1")
CATALOGUE = build_catalogue("gvi.", 4, POLICY.recipient_ids)
TASKS = plan(incident(), {"GRP-TEST-A": group()}, {}, POLICY).tasks


def test_intake_hands_the_incident_to_each_group_and_a_retraction_as_a_retraction() -> None:
    reported = incident(attributions=(attribution("GRP-TEST-A"), attribution("GRP-TEST-B")))
    admission = admit(None, reported, POLICY)
    outputs = work_for_groups(reported, admission, SOURCE, POLICY, T0)
    works = [o.work for o in outputs if isinstance(o, HandToGroup)]
    assert [w.group_id for w in works] == ["GRP-TEST-A", "GRP-TEST-B"]
    assert all(isinstance(w, PlanForGroup) and w.attributed and w.source == SOURCE for w in works)
    retraction = IncidentRetracted(
        incident_id="INC-TEST-1",
        version=2,
        retracted_at=T0 + timedelta(days=1),
        reason="invented reason",
        source_system="test-feed",
    )
    retracted = work_for_groups(
        retraction, admit(admission.record, retraction, POLICY), SOURCE, POLICY, T0
    )
    assert all(
        isinstance(o, HandToGroup) and isinstance(o.work, RetractForGroup) for o in retracted
    )
    assert len(retracted) == 2


def test_an_incident_for_no_group_tells_completion_there_are_no_tasks() -> None:
    below = incident(attributions=(attribution("GRP-TEST-A", confidence=0.1),))
    [output] = work_for_groups(below, admit(None, below, POLICY), SOURCE, POLICY, T0)
    assert isinstance(output, Progress) and output.event.event == "no_tasks"


def _event(kind: str, *tasks: object) -> TaskEvent:
    return TaskEvent.model_validate(
        {
            "event": kind,
            "incident_id": "INC-TEST-1",
            "incident_version": 1,
            "policy_version": POLICY.policy_version,
            "tasks": tuple(TaskLine.of(t) if isinstance(t, SanctionTask) else t for t in tasks),
            "at": T0,
        }
    )


@given(st.permutations(list(range(4))))
def test_completion_ends_at_every_tasks_latest_state_in_any_order(order: list[int]) -> None:
    planned = _event("planned", *TASKS)
    first = TASKS[0]
    updates = [
        _event(
            "task",
            first.model_copy(update={"status": status, "revision": revision}),
        )
        for revision, status in (
            (2, TaskStatus.ACKNOWLEDGED),
            (3, TaskStatus.IN_PROGRESS),
            (4, TaskStatus.COMPLETED),
        )
    ]
    events = [planned, *updates]
    slot = IncidentSlot()
    completed_seen = 0
    for index in order:
        decided = progress_after(slot, events[index], T0)
        slot = decided.slot
        for output in decided.outputs:
            assert isinstance(output, Snapshot)
            assert output.snapshot.tasks_completed >= completed_seen
            completed_seen = output.snapshot.tasks_completed
    lines = slot.lines
    final = lines["GRP-TEST-A"]
    assert len(final) == len(TASKS)
    assert final[str(first.task_id)].status is TaskStatus.COMPLETED


def test_each_output_goes_to_its_topic_under_its_key() -> None:
    task = TASKS[0]
    escalation = Escalation(
        task_id=task.task_id,
        incident_id=task.incident_id,
        recipient=task.recipient,
        reason=EscalationReason.OVERDUE,
        deadline=task.deadline,
        detected_at=T0,
        message="invented",
    )
    cancel = CancelTask(
        task_id=task.task_id, incident_version=2, reason="retracted", at=T0, source=SOURCE
    )
    long_key = SOURCE.model_copy(update={"key": "K" * 5000})
    outputs = [
        Escalate(escalation),
        Instruct(cancel),
        Answer(long_key, RejectionCode.UNKNOWN_TASK, "invented"),
        Progress(_event("no_tasks")),
    ]
    messages = messages_of(outputs, CATALOGUE, 4, "worker-1", T0)
    assert [(m.topic, m.key) for m in messages] == [
        (CATALOGUE.escalations.name, str(task.task_id)),
        (CATALOGUE.task_commands.name, str(task.task_id)),
        (CATALOGUE.rejected.name, "K" * MAX_KEY_CHARS),
        (CATALOGUE.task_events.name, "INC-TEST-1"),
    ]


def test_task_events_carry_lines_and_an_earlier_versions_whole_tasks_are_read_as_lines() -> None:
    made = _event("planned", *TASKS)
    assert all(type(line) is TaskLine for line in made.tasks)
    assert made.tasks == tuple(TaskLine.of(task) for task in TASKS)
    written_before = json.dumps(
        {
            "event": "planned",
            "incident_id": "INC-TEST-1",
            "incident_version": 1,
            "policy_version": POLICY.policy_version,
            "tasks": [task.model_dump(mode="json") for task in TASKS],
            "at": T0.isoformat(),
        }
    ).encode()
    assert "title" in TASKS[0].model_dump(), "a whole task has more than its line"
    assert decode_internal(TaskEvent, written_before) == made
    assert len(encode(made)) < len(written_before) / 2

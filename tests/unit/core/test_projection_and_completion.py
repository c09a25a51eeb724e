"""Per-recipient projection and the completion snapshot."""

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas import IncidentProgress, TaskStatus
from tests.support.builders import T0, group, incident
from workers.core.completion import completion_snapshot, merge_tasks
from workers.core.lifecycle import cancel
from workers.core.planner import plan
from workers.core.projection import disclosed_fields, project_task
from workers.policies import load_policy

POLICY = load_policy()
GROUP = group()
INCIDENT = incident()
DECISION = plan(INCIDENT, {GROUP.group_id: GROUP}, {}, POLICY)


def test_partner_view_holds_only_its_allowlist() -> None:
    task = next(
        t for t in DECISION.tasks if t.recipient == "skatteverket" and t.subject.ref == "P-BBB2"
    )
    view = project_task(task, INCIDENT, GROUP, POLICY)
    payload = view.model_dump_json(exclude_none=True)
    assert "NARRATIVE-SECRET" not in payload
    assert "ruc-test" not in payload and "invented basis" not in payload
    assert [ref for ref in ("P-AAA1", "P-CCC3", "P-DDD4") if ref in payload] == []
    assert view.subject_ref == "P-BBB2"
    assert view.legal_basis == task.legal_basis and view.deadline == task.deadline
    assert view.narrative is None and view.group_member_refs is None
    assert set(disclosed_fields(view)) == {
        "task_id",
        "recipient",
        "action",
        "title",
        "legal_basis",
        "deadline",
        "status",
        "kind",
        "priority",
        "reason",
        "subject_kind",
        "subject_ref",
        "incident_id",
        "municipality",
        "created_at",
        "policy_version",
        "rule_id",
    }


def test_police_investigation_sees_the_narrative() -> None:
    task = next(t for t in DECISION.tasks if t.recipient == "police-investigation")
    view = project_task(task, INCIDENT, GROUP, POLICY)
    assert view.narrative == INCIDENT.narrative
    assert view.group_member_refs == ("P-AAA1", "P-BBB2", "P-CCC3", "P-DDD4")
    assert view.attributions is not None and view.attributions[0]["group_id"] == "GRP-TEST-A"


def test_snapshot_counts_progress_and_ignores_cancelled_tasks() -> None:
    tasks = list(DECISION.tasks)
    tasks[0] = tasks[0].model_copy(update={"status": TaskStatus.COMPLETED})
    tasks[1] = cancel(tasks[1], "re-attributed", T0).task
    snapshot = completion_snapshot(
        "INC-TEST-1", 1, POLICY.policy_version, tasks, T0 + timedelta(hours=1)
    )
    assert snapshot.progress is IncidentProgress.OPEN
    assert snapshot.tasks_total == len(tasks)
    assert snapshot.tasks_completed == 1
    assert snapshot.tasks_open == len(tasks) - 2
    assert snapshot.percent_complete == round(100 / (len(tasks) - 1), 1)
    assert snapshot.by_status[TaskStatus.CANCELLED] == 1


def test_snapshot_reaches_one_hundred_percent_and_flags_overdue() -> None:
    done = [t.model_copy(update={"status": TaskStatus.COMPLETED}) for t in DECISION.tasks]
    snapshot = completion_snapshot(
        "INC-TEST-1", 1, POLICY.policy_version, done, T0 + timedelta(days=60)
    )
    assert snapshot.progress is IncidentProgress.DONE and snapshot.percent_complete == 100.0
    assert snapshot.tasks_overdue == 0
    late = completion_snapshot(
        "INC-TEST-1", 1, POLICY.policy_version, DECISION.tasks, T0 + timedelta(days=60)
    )
    assert late.tasks_overdue == len(DECISION.tasks)
    all_cancelled = [cancel(t, "retracted", T0).task for t in DECISION.tasks]
    assert (
        completion_snapshot("INC-TEST-1", 2, "p", all_cancelled, T0).progress
        is IncidentProgress.CANCELLED
    )
    assert completion_snapshot("INC-TEST-1", 1, "p", [], T0).progress is IncidentProgress.NO_ACTION


def test_a_cancelled_task_is_never_overdue_even_when_flagged_before_its_cancellation() -> None:
    flagged = [t.model_copy(update={"overdue": True, "escalated": True}) for t in DECISION.tasks]
    cancelled = [cancel(t, "retracted", T0 + timedelta(days=60)).task for t in flagged]
    snapshot = completion_snapshot("INC-TEST-1", 2, "p", cancelled, T0 + timedelta(days=60))
    assert snapshot.tasks_overdue == 0
    assert not any(task.overdue for task in snapshot.tasks)


def test_an_older_task_state_read_again_changes_nothing() -> None:
    planned = DECISION.tasks[0]
    delivered = planned.model_copy(update={"status": TaskStatus.DELIVERED, "revision": 1})
    completed = planned.model_copy(update={"status": TaskStatus.COMPLETED, "revision": 4})
    known = merge_tasks({}, [planned], planned=True)
    assert known is not None
    known = merge_tasks(known, [completed], planned=False)
    assert known is not None and known[str(planned.task_id)].status is TaskStatus.COMPLETED
    assert merge_tasks(known, [delivered], planned=False) is None
    assert merge_tasks(known, [planned], planned=True) is None


@given(st.permutations(list(range(6))))
def test_any_order_of_a_tasks_states_ends_at_its_latest(order: list[int]) -> None:
    statuses = [
        TaskStatus.CREATED,
        TaskStatus.DELIVERED,
        TaskStatus.ACKNOWLEDGED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.IN_PROGRESS,
        TaskStatus.COMPLETED,
    ]
    states = [
        DECISION.tasks[0].model_copy(update={"status": status, "revision": revision})
        for revision, status in enumerate(statuses)
    ]
    known: dict[str, Any] = {}
    completed_seen = 0
    for index in order:
        merged = merge_tasks(known, [states[index]], planned=index == 0)
        known = merged if merged is not None else known
        done = sum(task.status is TaskStatus.COMPLETED for task in known.values())
        assert done >= completed_seen, "progress never goes backwards"
        completed_seen = done
    assert known[str(DECISION.tasks[0].task_id)].revision == 5


def test_disclosed_fields_are_the_set_fields_with_a_value_in_name_order() -> None:
    """The audit's field list, against its plain definition, on every view of the decision,
    each also with a field set to None (as a task without a partnership is seen)."""
    for task in DECISION.tasks:
        view = project_task(task, INCIDENT, GROUP, POLICY)
        for candidate in (view, view.model_copy(update={"title": None, "partnership": None})):
            plain = tuple(
                sorted(
                    name
                    for name in candidate.model_fields_set
                    if getattr(candidate, name) is not None
                    and name not in {"kind_of_message", "schema_version"}
                )
            )
            assert disclosed_fields(candidate) == plain
    assert "title" not in disclosed_fields(view.model_copy(update={"title": None}))

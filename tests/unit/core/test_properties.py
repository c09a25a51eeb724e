"""Property-based tests of the decision core: predictable, explainable, need to know."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import (
    TERMINAL_STATUSES,
    GroupHistory,
    GroupProfile,
    IncidentCorrected,
    IncidentReported,
    SanctionTask,
    TaskStatus,
    TaskStatusChange,
)
from tests.support.strategies import groups, histories, incidents
from workers.core.lifecycle import PROGRESSION, TransitionRejected, apply_status_change
from workers.core.planner import diff_decision, plan
from workers.core.policy import Side
from workers.core.projection import project_task
from workers.policies import load_policy

POLICY = load_policy()
RULE_IDS = {rule.id for rule in POLICY.rules}
settings.register_profile("gvi", max_examples=150, deadline=None)
settings.load_profile("gvi")


def _plan(
    incident: IncidentReported | IncidentCorrected, group: GroupProfile, history: GroupHistory
):  # type: ignore[no-untyped-def]
    return plan(incident, {group.group_id: group}, {group.group_id: history}, POLICY)


@given(incidents(), groups(), histories())
def test_identical_inputs_give_identical_decisions(
    incident: IncidentReported, group: GroupProfile, history: GroupHistory
) -> None:
    first = _plan(incident, group, history)
    again = _plan(
        IncidentReported.model_validate_json(incident.model_dump_json()),
        GroupProfile.model_validate_json(group.model_dump_json()),
        GroupHistory.model_validate_json(history.model_dump_json()),
    )
    assert first == again
    assert [task.task_id for task in first.tasks] == [task.task_id for task in again.tasks]
    assert len({task.task_id for task in first.tasks}) == len(first.tasks)


@given(incidents(), groups(), histories(), st.integers(min_value=2, max_value=50))
def test_correction_that_changes_nothing_cancels_nothing(
    incident: IncidentReported, group: GroupProfile, history: GroupHistory, version: int
) -> None:
    before = _plan(incident, group, history)
    fields = incident.model_dump(exclude={"kind", "version"})
    unchanged = IncidentCorrected(**fields, version=version)
    diff = diff_decision(before.tasks, _plan(unchanged, group, history))
    assert diff.cancel == () and diff.add == ()
    assert {task.task_id for task in diff.keep} == {task.task_id for task in before.tasks}


@given(incidents(), groups(), histories())
def test_partner_projection_never_discloses_police_only_facts(
    incident: IncidentReported, group: GroupProfile, history: GroupHistory
) -> None:
    for task in _plan(incident, group, history).tasks:
        if POLICY.recipient(task.recipient).side is not Side.PARTNER:
            continue
        payload = project_task(task, incident, group, POLICY).model_dump_json(exclude_none=True)
        assert incident.narrative not in payload
        for attribution in incident.attributions:
            assert attribution.attributed_by not in payload
            assert attribution.basis not in payload
            assert str(attribution.confidence) not in payload or "confidence" not in payload
        other_members = {m.person_ref for m in group.members} - {task.subject.ref}
        assert [ref for ref in other_members if ref in payload] == []


@given(incidents(), groups(), histories())
def test_every_task_is_explained_and_due_after_creation(
    incident: IncidentReported, group: GroupProfile, history: GroupHistory
) -> None:
    decision = _plan(incident, group, history)
    assert decision.reasons or decision.groups
    for task in decision.tasks:
        assert task.deadline > task.created_at
        assert task.policy_version == POLICY.policy_version
        assert task.rule_id in RULE_IDS
        assert task.reason.strip()
        assert task.legal_basis.strip()


def _lifecycle_task() -> SanctionTask:
    from tests.support.builders import group as build_group
    from tests.support.builders import incident as build_incident

    return plan(build_incident(), {"GRP-TEST-A": build_group()}, {}, POLICY).tasks[0]


LIFECYCLE_TASK = _lifecycle_task()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(TaskStatus), st.sampled_from([LIFECYCLE_TASK.recipient, "skatteverket"])
        ),
        max_size=12,
    )
)
def test_lifecycle_never_reopens_or_moves_backwards(updates: list[tuple[TaskStatus, str]]) -> None:
    task = LIFECYCLE_TASK
    for index, (status, recipient) in enumerate(updates):
        change = TaskStatusChange(
            task_id=task.task_id,
            recipient=recipient,
            status=status,
            changed_at=task.created_at + timedelta(minutes=index + 1),
            reported_by="prop-agent",
            reason="reason given",
        )
        before = task
        try:
            task = apply_status_change(task, change).task
        except TransitionRejected:
            assert task == before
            continue
        assert recipient == task.recipient
        if before.status in TERMINAL_STATUSES:
            assert task == before
        elif task.status in PROGRESSION:
            assert PROGRESSION.index(task.status) >= PROGRESSION.index(before.status)
        assert task.status is not TaskStatus.CANCELLED or before.status is TaskStatus.CANCELLED

"""No table record, internal message or output grows with a group's size or history past a bound."""

from datetime import timedelta

from events.codec import encode
from schemas import GroupHistory, GroupProfile, TaskStatus
from schemas.group import GroupMember, SupervisionStatus
from tests.support.builders import T0, attribution, group, incident
from workers.core.completion import MAX_LISTED_TASKS, completion_snapshot
from workers.core.messages import TaskEvent, TaskLine
from workers.core.planner import PlannedTask, history_entry, plan, replan_group, with_entry
from workers.core.planning import PLANNED_CHUNK
from workers.core.records import GroupPlans, GroupTaskLines, IncidentPlan
from workers.policies import load_policy

POLICY = load_policy()
KAFKA_DEFAULT_LIMIT = 1_048_576
BOUND = KAFKA_DEFAULT_LIMIT // 2


def _big_group(group_id: str) -> GroupProfile:
    members = tuple(
        GroupMember(person_ref=f"P-{group_id[-1]}{n:04d}", supervision=SupervisionStatus.PROBATION)
        for n in range(200)
    )
    return group(group_id, members=members)


def test_an_incident_of_three_groups_of_200_members_stays_within_every_bound() -> None:
    groups = {g.group_id: g for g in (_big_group(f"GRP-BIG-{n}") for n in range(3))}
    reported = incident(attributions=tuple(attribution(g) for g in groups))
    decision = plan(reported, groups, {}, POLICY)
    assert len(decision.tasks) > 1500, "the scenario is as large as the issue says"
    for group_id in groups:
        tasks = [t for t in decision.tasks if t.group_id == group_id]
        stored_plan = IncidentPlan(version=1, tasks=tuple(PlannedTask.of(t) for t in tasks))
        assert len(stored_plan.model_dump_json()) < BOUND
        lines = GroupTaskLines(tasks={str(t.task_id): TaskLine.of(t) for t in tasks})
        assert len(lines.model_dump_json()) < BOUND
        for start in range(0, len(tasks), PLANNED_CHUNK):
            planned = TaskEvent(
                event="planned",
                incident_id=reported.incident_id,
                incident_version=1,
                policy_version=POLICY.policy_version,
                tasks=tuple(TaskLine.of(t) for t in tasks[start : start + PLANNED_CHUNK]),
                at=T0,
            )
            assert len(encode(planned)) < BOUND
    snapshot = completion_snapshot(
        reported.incident_id, 1, POLICY.policy_version, decision.tasks, T0
    )
    assert len(encode(snapshot)) < BOUND
    assert len(snapshot.tasks) == MAX_LISTED_TASKS
    assert snapshot.tasks_omitted == len(decision.tasks) - MAX_LISTED_TASKS
    assert snapshot.tasks_total == len(decision.tasks)


def test_fifty_incidents_of_one_big_group_keep_its_record_small() -> None:
    big = _big_group("GRP-BIG-9")
    history = GroupHistory(group_id=big.group_id)
    for n in range(50):
        moment = T0 + timedelta(days=n)
        reported = incident(incident_id=f"INC-BIG-{n}", occurred_at=moment, reported_at=moment)
        decision, diff = replan_group(reported, big.group_id, big, history, POLICY, True, ())
        assert decision is not None
        history = with_entry(history, history_entry(reported, decision), POLICY)
        assert len(IncidentPlan(version=1, tasks=diff.remaining()).model_dump_json()) < BOUND
    record = GroupPlans(group_id=big.group_id, history=history, waiting=("INC-X",) * 50)
    assert len(record.model_dump_json()) < 64_000


def test_a_long_snapshot_lists_open_tasks_first() -> None:
    groups = {g.group_id: g for g in (_big_group(f"GRP-BIG-{n}") for n in range(3))}
    decision = plan(
        incident(attributions=tuple(attribution(g) for g in groups)), groups, {}, POLICY
    )
    tasks = [
        t.model_copy(update={"status": TaskStatus.COMPLETED}) if n % 2 else t
        for n, t in enumerate(decision.tasks)
    ]
    snapshot = completion_snapshot("INC-TEST-1", 1, POLICY.policy_version, tasks, T0)
    assert all(line.status is not TaskStatus.COMPLETED for line in snapshot.tasks)
    assert snapshot.tasks_completed == len(tasks) // 2

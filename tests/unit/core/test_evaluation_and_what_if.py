"""The evaluation report's counting and the policy what-if's comparison, called directly."""

from datetime import datetime, timedelta
from importlib import resources

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.completion import CompletionSnapshot, IncidentProgress, TaskProgress
from schemas.incident import IncidentRetracted
from schemas.task import RecipientTaskView, SanctionTask, TaskStatus, TaskStatusChange
from tests.support.builders import T0, attribution, correction, group, incident
from workers.core.evaluation import Window, latest_incidents, report, retracted, task_facts
from workers.core.planner import plan
from workers.core.policy_checks import parse_policy
from workers.core.what_if import compare, replay
from workers.policies import DEFAULT_POLICY_FILE, DEFAULT_POLICY_PACKAGE, load_policy

POLICY = load_policy()


def _snapshot(reported: object, statuses: dict[str, TaskStatus]) -> CompletionSnapshot:
    tasks = plan(reported, {"GRP-TEST-A": group()}, {}, POLICY).tasks  # type: ignore[arg-type]
    lines = tuple(
        TaskProgress(
            task_id=t.task_id,
            recipient=t.recipient,
            kind=t.kind,
            action=t.action,
            group_id=t.group_id,
            status=statuses.get(str(t.task_id), TaskStatus.DELIVERED),
            deadline=t.deadline,
            overdue=False,
            escalated=False,
        )
        for t in tasks
    )
    return CompletionSnapshot(
        incident_id=reported.incident_id,  # type: ignore[attr-defined]
        incident_version=1,
        policy_version=POLICY.policy_version,
        progress=IncidentProgress.OPEN,
        tasks_total=len(lines),
        tasks_open=len(lines),
        tasks_completed=0,
        tasks_overdue=0,
        by_status={},
        percent_complete=0.0,
        tasks=lines,
        updated_at=T0,
    )


def _view(task: object, status: TaskStatus) -> RecipientTaskView:
    return RecipientTaskView(
        task_id=task.task_id,  # type: ignore[attr-defined]
        recipient=task.recipient,  # type: ignore[attr-defined]
        action=task.action,  # type: ignore[attr-defined]
        title=task.title,  # type: ignore[attr-defined]
        legal_basis=task.legal_basis,  # type: ignore[attr-defined]
        deadline=task.deadline,  # type: ignore[attr-defined]
        status=status,
        kind=task.kind,  # type: ignore[attr-defined]
        incident_id=task.incident_id,  # type: ignore[attr-defined]
    )


def _change(
    task: SanctionTask, status: TaskStatus, at: datetime, reason: str | None = None
) -> TaskStatusChange:
    return TaskStatusChange(
        task_id=task.task_id,
        recipient=task.recipient,
        status=status,
        changed_at=at,
        reported_by=f"{task.recipient}-handlaggare-1",
        reason=reason,
    )


def test_the_report_counts_each_recipients_tasks_by_what_the_topics_say() -> None:
    reported = incident(reported_at=T0 + timedelta(minutes=20))
    tasks = plan(reported, {"GRP-TEST-A": group()}, {}, POLICY).tasks
    skatteverket = [t for t in tasks if t.recipient == "skatteverket"]
    kronofogden = [t for t in tasks if t.recipient == "kronofogden"]
    done, declined = skatteverket[0], kronofogden[0]
    delivered_at = T0 + timedelta(minutes=21)
    updates = [
        _change(done, TaskStatus.ACKNOWLEDGED, delivered_at + timedelta(hours=1)),
        _change(done, TaskStatus.COMPLETED, delivered_at + timedelta(hours=5)),
        _change(declined, TaskStatus.DECLINED, delivered_at + timedelta(hours=2), "no debts"),
    ]
    statuses = {str(done.task_id): TaskStatus.COMPLETED, str(declined.task_id): TaskStatus.DECLINED}
    window = Window(T0.date(), T0.date())
    facts = task_facts(
        latest_incidents([reported]),
        [_snapshot(reported, statuses)],
        [(_view(t, TaskStatus.DELIVERED), delivered_at) for t in tasks],
        updates,
        window,
    )
    made = report(facts, window, T0 + timedelta(days=1))
    rows = {(r["recipient"], r["municipality"]): r for r in made.rows}
    skv = rows[("skatteverket", "Huddinge")]
    assert skv["planned"] == skv["delivered"] == len(skatteverket)
    assert (skv["acknowledged"], skv["completed"], skv["open"]) == (1, 1, len(skatteverket) - 1)
    assert skv["acknowledge_hours_median"] == 1.0 and skv["complete_hours_median"] == 5.0
    assert skv["on_time_share"] == 1.0
    kfm = rows[("kronofogden", "Huddinge")]
    assert kfm["declined"] == 1 and kfm["declined_reasons"] == {"no debts": 1}
    assert kfm["acknowledged"] == 0 and kfm["on_time_share"] is None
    assert sum(int(r["planned"]) for r in made.rows) == len(tasks)  # type: ignore[call-overload]
    assert made.incidents == 1
    follow_up = [s for s in made.steps if s["step"] == "follow-up"]
    assert follow_up == [
        {
            "step": "follow-up",
            "municipality": "Huddinge",
            "planned": sum(t.kind.value == "follow_up" for t in tasks),
            "completed": 0,
            "skipped_share": 1.0,
        }
    ]
    outside = Window(T0.date() + timedelta(days=1), T0.date() + timedelta(days=2))
    assert (
        task_facts(latest_incidents([reported]), [_snapshot(reported, {})], [], [], outside) == {}
    )
    elsewhere = Window(T0.date(), T0.date(), "Malmö")
    assert (
        task_facts(latest_incidents([reported]), [_snapshot(reported, {})], [], [], elsewhere) == {}
    )


def test_the_latest_version_gives_the_facts_and_a_retraction_is_remembered() -> None:
    first, second = incident(), correction(version=2)
    withdrawal = IncidentRetracted(
        incident_id=first.incident_id,
        version=3,
        retracted_at=T0 + timedelta(hours=1),
        reason="invented: attributed in error",
        source_system="test-feed",
    )
    assert latest_incidents([first, second])[first.incident_id] == second
    assert latest_incidents([second, first])[first.incident_id] == second
    assert latest_incidents([first, withdrawal, second])[first.incident_id] == second
    assert retracted([first, withdrawal, second]) == {first.incident_id}
    assert retracted([first, second]) == set()


def _proposed(edit: object) -> object:
    text = resources.files(DEFAULT_POLICY_PACKAGE).joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")
    document = yaml.safe_load(text)
    edit(document)  # type: ignore[operator]
    return parse_policy(document)


def test_the_same_policy_changes_nothing_and_a_changed_one_is_shown_step_by_step() -> None:
    incidents = [
        incident(incident_id="INC-WI-1"),
        incident(
            incident_id="INC-WI-2",
            occurred_at=T0 + timedelta(days=3),
            reported_at=T0 + timedelta(days=3, minutes=5),
        ),
    ]
    groups = {"GRP-TEST-A": group()}
    unchanged = compare(incidents, groups, POLICY, POLICY)
    assert unchanged.totals == {} and not any(d.differs for d in unchanged.diffs)

    def edit(document: dict) -> None:  # type: ignore[type-arg]
        document["policy_version"] = "2026.12-proposed"
        for rule in document["rules"]:
            rule["tasks"] = [t for t in rule["tasks"] if t["recipient"] != "kronofogden"]
            for task in rule["tasks"]:
                if task["recipient"] == "skatteverket":
                    task["deadline"] = {"days": 10}

    proposed = _proposed(edit)
    result = compare(incidents, groups, POLICY, proposed)  # type: ignore[arg-type]
    before = replay(incidents, groups, POLICY)
    planned = [t for tasks in before.values() if not isinstance(tasks, str) for t in tasks]
    assert result.totals.get("kronofogden", {}).get("dropped") == sum(
        t.recipient == "kronofogden" for t in planned
    )
    assert result.totals.get("skatteverket", {}).get("changed") == sum(
        t.recipient == "skatteverket" and (t.deadline - t.created_at) != timedelta(days=10)
        for t in planned
    )
    assert result.totals["kronofogden"]["dropped"] > 0
    assert result.totals["skatteverket"]["changed"] > 0
    assert all(not d.added for d in result.diffs)
    for diff in result.diffs:
        assert all(c.fields == ("deadline",) for c in diff.changed)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=6, unique=True))
def test_replaying_under_the_current_policy_gives_exactly_the_planners_tasks(
    days: list[int],
) -> None:
    incidents = [
        incident(
            incident_id=f"INC-WI-H{day}",
            occurred_at=T0 + timedelta(days=day),
            reported_at=T0 + timedelta(days=day, minutes=5),
            attributions=(attribution(),),
        )
        for day in days
    ]
    replayed = replay(incidents, {"GRP-TEST-A": group()}, POLICY)
    assert set(replayed) == {i.incident_id for i in incidents}
    assert compare(incidents, {"GRP-TEST-A": group()}, POLICY, POLICY).totals == {}

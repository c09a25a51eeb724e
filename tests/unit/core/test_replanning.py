"""One group's part of a (corrected) incident, its history, and the refreshed recipient view."""

from datetime import timedelta

import pytest

from schemas import GroupHistory, IncidentReported, IncidentType, TaskStatus
from schemas.decision import GroupDecision
from tests.support.builders import correction, group, incident
from workers.core.lifecycle import cancel
from workers.core.planner import (
    HISTORY_CAP,
    UnknownGroup,
    history_entry,
    replan_group,
    tier_for,
    with_entry,
    without_incident,
)
from workers.core.projection import context_for, disclosed_fields, project_task, view_of
from workers.policies import load_policy

POLICY = load_policy()
GROUP = group()


def test_first_plan_adds_every_task() -> None:
    decision, diff = replan_group(
        incident(), GROUP.group_id, GROUP, None, POLICY, attributed=True, current=()
    )
    assert decision is not None
    assert diff.add == decision.tasks and not diff.cancel


def test_a_group_no_longer_attributed_cancels_its_tasks() -> None:
    _, first = replan_group(
        incident(), GROUP.group_id, GROUP, None, POLICY, attributed=True, current=()
    )
    decision, diff = replan_group(
        correction(), GROUP.group_id, GROUP, None, POLICY, False, first.add
    )
    assert decision is None
    assert len(diff.cancel) == len(first.add) and not diff.add


def test_history_records_the_tier_only_when_sanctions_followed() -> None:
    decision, _ = replan_group(
        incident(), GROUP.group_id, GROUP, None, POLICY, attributed=True, current=()
    )
    assert decision is not None
    entry = history_entry(incident(), decision)
    assert entry.tier == 1
    history = with_entry(GroupHistory(group_id=GROUP.group_id), entry, POLICY)
    repeat = incident(
        incident_id="INC-TEST-2",
        occurred_at=incident().occurred_at.replace(day=25),
        reported_at=incident().reported_at.replace(day=25),
    )
    assert tier_for(repeat, history, POLICY) == 2
    assert with_entry(history, entry, POLICY).entries == (entry,)
    unnotified = group(notified=False)
    notification_only, _ = replan_group(
        incident(), unnotified.group_id, unnotified, None, POLICY, True, ()
    )
    assert notification_only is not None
    assert history_entry(incident(), notification_only).tier is None
    lesser, _ = replan_group(
        incident(incident_type=IncidentType.THREAT), GROUP.group_id, GROUP, None, POLICY, True, ()
    )
    assert lesser is not None and history_entry(incident(), lesser).tier == 1


def test_a_view_built_again_from_the_kept_context_carries_the_status_and_allowed_reason() -> None:
    decision, _ = replan_group(
        incident(), GROUP.group_id, GROUP, None, POLICY, attributed=True, current=()
    )
    assert decision is not None
    task = next(t for t in decision.tasks if t.recipient == "skatteverket")
    view = project_task(task, incident(), GROUP, POLICY)
    context = context_for(task, incident(), GROUP, POLICY)
    assert view_of(task, context, POLICY) == view
    cancelled = cancel(task, "incident retracted", task.created_at).task
    refreshed = view_of(cancelled, context, POLICY)
    assert refreshed.status is TaskStatus.CANCELLED
    assert refreshed.status_reason == "incident retracted"
    assert refreshed.subject_ref == view.subject_ref
    assert "schema_version" not in disclosed_fields(refreshed)
    assert set(disclosed_fields(refreshed)) == {*disclosed_fields(view), "status_reason"}


def test_an_unknown_group_still_attributed_is_refused() -> None:
    with pytest.raises(UnknownGroup, match="GRP-GONE"):
        replan_group(incident(), "GRP-GONE", None, None, POLICY, attributed=True, current=())


def test_a_removed_group_no_longer_attributed_still_cancels_its_tasks() -> None:
    _, first = replan_group(incident(), GROUP.group_id, GROUP, None, POLICY, True, ())
    decision, diff = replan_group(
        correction(), GROUP.group_id, None, None, POLICY, False, first.add
    )
    assert decision is None
    assert {c.task.task_id for c in diff.cancel} == {t.task_id for t in first.add}


def test_a_retracted_incident_leaves_the_history_and_no_longer_raises_the_tier() -> None:
    first = history_entry(incident(), _decision(incident()))
    history = with_entry(GroupHistory(group_id=GROUP.group_id), first, POLICY)
    repeat = incident(
        incident_id="INC-TEST-2",
        occurred_at=incident().occurred_at + timedelta(days=5),
        reported_at=incident().reported_at + timedelta(days=5),
    )
    assert tier_for(repeat, history, POLICY) == 2
    assert tier_for(repeat, without_incident(history, "INC-TEST-1"), POLICY) == 1


def test_history_stays_bounded_however_many_incidents() -> None:
    history = GroupHistory(group_id=GROUP.group_id)
    for day in range(400):
        moment = incident().occurred_at + timedelta(days=day)
        entry = history_entry(
            incident(incident_id=f"INC-{day}", occurred_at=moment, reported_at=moment),
            _decision(incident()),
        )
        history = with_entry(history, entry, POLICY)
    assert len(history.entries) == HISTORY_CAP
    newest = history.entries[-1].occurred_at
    assert all(
        newest - e.occurred_at <= timedelta(days=2 * POLICY.repeat_window_days)
        for e in history.entries
    )
    assert [e.occurred_at for e in history.entries] == sorted(
        e.occurred_at for e in history.entries
    )


def _decision(reported: IncidentReported) -> GroupDecision:
    decision, _ = replan_group(reported, GROUP.group_id, GROUP, None, POLICY, True, ())
    assert decision is not None
    return decision

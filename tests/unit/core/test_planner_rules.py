"""One test per rule of the default playbook, and the planner's corrections and retractions."""

from collections import Counter
from datetime import timedelta

import pytest

from schemas import DecisionOutcome, IncidentRetracted, IncidentType, TaskKind, TaskStatus
from tests.support.builders import T0, attribution, correction, earlier, group, history, incident
from workers.core.lifecycle import cancel
from workers.core.planner import (
    UnknownGroup,
    diff_decision,
    diff_retraction,
    plan,
    task_id_for,
    tier_for,
)
from workers.policies import load_policy

POLICY = load_policy()
GROUP_A = group("GRP-TEST-A")
GROUP_B = group("GRP-TEST-B", alias="Rivalerna (invented)", notified=True)
GROUPS = {GROUP_A.group_id: GROUP_A, GROUP_B.group_id: GROUP_B}


def _actions(tasks: object) -> Counter[tuple[str, str]]:
    return Counter((task.recipient, task.action) for task in tasks)  # type: ignore[attr-defined]


def test_first_serious_violence_by_notified_group_brings_tier_one() -> None:
    decision = plan(incident(), GROUPS, {}, POLICY)
    assert decision.outcome is DecisionOutcome.TASKS
    (group_decision,) = decision.groups
    assert group_decision.tier == 1
    assert group_decision.matched_rules == ("tier1-serious-violence",)
    assert _actions(decision.tasks) == Counter(
        {
            ("police-patrol", "patrol-focus"): 1,
            ("police-investigation", "investigation-priority"): 1,
            ("kriminalvarden", "supervision-review"): 2,  # parole and probation, not custody/none
            ("skatteverket", "tax-review"): 4,
            ("kronofogden", "debt-enforcement-review"): 4,
            ("forsakringskassan", "benefits-review"): 4,
            ("socialtjansten", "offer-of-help"): 4,
            ("police-patrol", "communicate-consequences"): 1,
        }
    )
    patrol = next(task for task in decision.tasks if task.action == "patrol-focus")
    assert patrol.deadline - patrol.created_at == timedelta(hours=12)
    supervised = {t.subject.ref for t in decision.tasks if t.recipient == "kriminalvarden"}
    assert supervised == {"P-AAA1", "P-BBB2"}
    follow_up = next(task for task in decision.tasks if task.kind is TaskKind.FOLLOW_UP)
    assert all(
        follow_up.deadline > task.deadline
        for task in decision.tasks
        if task.kind is TaskKind.SANCTION
    )
    assert "communicate" in follow_up.title.lower() and "rivals" in follow_up.title


def test_repeat_violence_within_window_brings_the_next_tier() -> None:
    histories = {"GRP-TEST-A": history("GRP-TEST-A", earlier(days_before=40, tier=1))}
    decision = plan(incident(), GROUPS, histories, POLICY)
    (group_decision,) = decision.groups
    assert group_decision.tier == 2
    assert group_decision.matched_rules == ("tier2-repeat-serious-violence",)
    actions = _actions(decision.tasks)
    assert actions[("lansstyrelsen", "business-supervision-review")] == 1
    assert actions[("kriminalvarden", "supervision-review")] == 3  # custody included at tier 2
    tier1 = plan(incident(), GROUPS, {}, POLICY)
    for recipient in ("police-patrol", "skatteverket", "socialtjansten"):
        fastest_tier2 = min(t.deadline for t in decision.tasks if t.recipient == recipient)
        fastest_tier1 = min(t.deadline for t in tier1.tasks if t.recipient == recipient)
        assert fastest_tier2 < fastest_tier1, recipient
    assert len(decision.tasks) > len(tier1.tasks)


def test_violence_outside_the_window_starts_again_at_tier_one() -> None:
    histories = {
        "GRP-TEST-A": history("GRP-TEST-A", earlier(days_before=POLICY.repeat_window_days + 1))
    }
    assert plan(incident(), GROUPS, histories, POLICY).groups[0].tier == 1


def test_tier_is_capped_and_ignores_unsanctioned_history() -> None:
    capped = history(
        "GRP-TEST-A", earlier(10, tier=2, incident_id="INC-OLD-2"), earlier(50, tier=1)
    )
    assert tier_for(incident(), capped, POLICY) == POLICY.max_tier
    unsanctioned = history("GRP-TEST-A", earlier(10, tier=None))
    assert tier_for(incident(), unsanctioned, POLICY) == 1
    same_incident = history("GRP-TEST-A", earlier(10, tier=1, incident_id="INC-TEST-1"))
    assert tier_for(incident(), same_incident, POLICY) == 1


def test_never_notified_group_gets_notifications_and_no_sanctions() -> None:
    unnotified = group("GRP-TEST-A", notified=False)
    decision = plan(incident(), {unnotified.group_id: unnotified}, {}, POLICY)
    (group_decision,) = decision.groups
    assert not group_decision.notified
    assert group_decision.matched_rules == ("notify-unnotified-group",)
    assert {task.kind for task in decision.tasks} == {TaskKind.NOTIFICATION, TaskKind.SUPPORT}
    assert _actions(decision.tasks) == Counter(
        {
            ("police-patrol", "custom-notification"): 4,
            ("socialtjansten", "offer-of-help-at-notification"): 4,
        }
    )
    assert any("never notified" in reason for reason in group_decision.reasons)


def test_notification_after_the_incident_does_not_count() -> None:
    late = group("GRP-TEST-A").model_copy(
        update={
            "notifications": (
                group()
                .notifications[0]
                .model_copy(update={"delivered_at": T0 + timedelta(hours=1)}),
            )
        }
    )
    decision = plan(incident(), {late.group_id: late}, {}, POLICY)
    assert decision.groups[0].matched_rules == ("notify-unnotified-group",)


def test_lesser_violence_by_notified_group() -> None:
    decision = plan(incident(incident_type=IncidentType.ARSON), GROUPS, {}, POLICY)
    assert decision.groups[0].matched_rules == ("lesser-violence-by-notified-group",)
    assert _actions(decision.tasks) == Counter(
        {
            ("police-patrol", "patrol-focus"): 1,
            ("socialtjansten", "offer-of-help"): 4,
            ("police-patrol", "communicate-consequences"): 1,
        }
    )


def test_low_confidence_attribution_records_a_decision_without_tasks() -> None:
    decision = plan(incident(attributions=(attribution(confidence=0.5),)), GROUPS, {}, POLICY)
    assert decision.outcome is DecisionOutcome.NO_ACTION
    assert decision.tasks == ()
    assert any("0.50, below the threshold 0.70" in reason for reason in decision.reasons)


def test_unattributed_incident_records_a_decision_without_tasks() -> None:
    decision = plan(incident(attributions=()), GROUPS, {}, POLICY)
    assert decision.outcome is DecisionOutcome.NO_ACTION
    assert "the incident is not attributed to any group" in decision.reasons


def test_unknown_group_is_an_error_not_a_silent_no_op() -> None:
    with pytest.raises(UnknownGroup, match="GRP-NOWHERE"):
        plan(incident(attributions=(attribution("GRP-NOWHERE"),)), GROUPS, {}, POLICY)


def test_two_attributed_groups_each_get_their_tasks() -> None:
    both = incident(attributions=(attribution("GRP-TEST-A"), attribution("GRP-TEST-B", 0.8)))
    decision = plan(both, GROUPS, {}, POLICY)
    assert [g.group_id for g in decision.groups] == ["GRP-TEST-A", "GRP-TEST-B"]
    ids = [task.task_id for task in decision.tasks]
    assert len(ids) == len(set(ids))


def test_task_ids_are_uuid5_over_incident_rule_action_and_subject() -> None:
    decision = plan(incident(), GROUPS, {}, POLICY)
    for task in decision.tasks:
        assert task.task_id.version == 5
        assert task.task_id == task_id_for(
            task.incident_id, task.rule_id, task.action, task.group_id, task.subject.ref
        )


def test_correction_that_changes_nothing_cancels_nothing() -> None:
    before = plan(incident(), GROUPS, {}, POLICY)
    after = plan(correction(version=2), GROUPS, {}, POLICY)
    diff = diff_decision(before.tasks, after)
    assert diff.is_empty
    assert {task.task_id for task in diff.keep} == {task.task_id for task in before.tasks}


def test_correction_to_lesser_violence_cancels_and_adds_with_reasons() -> None:
    before = plan(incident(), GROUPS, {}, POLICY)
    after = plan(correction(incident_type=IncidentType.ARSON), GROUPS, {}, POLICY)
    diff = diff_decision(before.tasks, after)
    assert {c.task.rule_id for c in diff.cancel} == {"tier1-serious-violence"}
    assert all("rule tier1-serious-violence no longer applies" in c.reason for c in diff.cancel)
    assert {task.rule_id for task in diff.add} == {"lesser-violence-by-notified-group"}


def test_reattribution_to_another_group_moves_the_tasks() -> None:
    before = plan(incident(), GROUPS, {}, POLICY)
    after = plan(correction(attributions=(attribution("GRP-TEST-B"),)), GROUPS, {}, POLICY)
    diff = diff_decision(before.tasks, after)
    assert {c.task.group_id for c in diff.cancel} == {"GRP-TEST-A"}
    assert len(diff.cancel) == len(before.tasks)
    assert all("no longer attributes it to group GRP-TEST-A" in c.reason for c in diff.cancel)
    assert {task.group_id for task in diff.add} == {"GRP-TEST-B"}
    assert not diff.keep


def test_closed_tasks_are_not_cancelled_by_a_correction() -> None:
    before = plan(incident(), GROUPS, {}, POLICY)
    completed = before.tasks[0].model_copy(update={"status": TaskStatus.COMPLETED})
    current = (completed, *before.tasks[1:])
    after = plan(correction(attributions=()), GROUPS, {}, POLICY)
    diff = diff_decision(current, after)
    assert completed.task_id not in {c.task.task_id for c in diff.cancel}
    assert len(diff.cancel) == len(before.tasks) - 1


def test_retraction_cancels_every_open_task_with_the_reason() -> None:
    before = plan(incident(), GROUPS, {}, POLICY)
    retraction = IncidentRetracted(
        incident_id="INC-TEST-1",
        version=2,
        retracted_at=T0 + timedelta(days=1),
        reason="the incident was a fireworks accident",
        source_system="test-feed",
    )
    closed = cancel(before.tasks[0], "earlier", T0).task
    diff = diff_retraction((closed, *before.tasks[1:]), retraction)
    assert len(diff.cancel) == len(before.tasks) - 1
    assert all("retracted" in c.reason and "fireworks accident" in c.reason for c in diff.cancel)
    assert diff.add == ()

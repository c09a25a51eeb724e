"""Planning's decisions, called directly: dispatch, idempotence, parking, retraction, give-up."""

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from events.catalogue import build_catalogue
from events.partitioning import partition_of
from schemas import RejectionCode, TaskStatus
from schemas.group import GroupProfile
from schemas.incident import IncidentReported, IncidentRetracted
from schemas.rejection import Refused
from tests.support.builders import T0, attribution, correction, group, incident
from tests.support.strategies import groups, incidents
from workers.core.completion import completion_snapshot
from workers.core.messages import (
    CreateTasks,
    GiveUpWaiting,
    PlanForGroup,
    RetractForGroup,
    SourceRef,
)
from workers.core.outputs import Disclosure, Instruct, KeepTasks, Progress, ReportUnknownGroup
from workers.core.partnerships import policy_for_incident
from workers.core.planner import plan
from workers.core.planning import (
    MAX_WAITING_PER_GROUP,
    GroupSlot,
    Planned,
    give_up_waiting,
    plan_for_group,
)
from workers.core.projection import disclosed_fields
from workers.core.records import GroupPlans, IncidentPlan
from workers.policies import load_policy
from workers.stream.outbound import KEPT_PER_MESSAGE, messages_of

POLICY = load_policy()
RECIPIENTS = sorted(POLICY.recipient_ids)
SOURCE = SourceRef(topic="gvi.incidents", partition=1, offset=7, key="INC-TEST-1")
WAIT = timedelta(hours=1)


def _slot(known: bool = True, group_id: str = "GRP-TEST-A") -> GroupSlot:
    return GroupSlot(group(group_id) if known else None, GroupPlans.empty(group_id))


def _work(reported=None, attributed: bool = True, source: SourceRef = SOURCE) -> PlanForGroup:  # type: ignore[no-untyped-def]
    return PlanForGroup(
        group_id="GRP-TEST-A",
        incident=reported or incident(),
        attributed=attributed,
        source=source,
    )


def _of(planned: Planned, kind: type) -> list:  # type: ignore[type-arg]
    return [output for output in planned.outputs if isinstance(output, kind)]


def test_new_tasks_go_straight_to_their_recipients_as_delivered_with_one_audit_each() -> None:
    reported = incident()
    expected = plan(reported, {"GRP-TEST-A": group()}, {}, POLICY).tasks
    planned = plan_for_group(_slot(), _work(reported), POLICY, T0)
    disclosures = _of(planned, Disclosure)
    assert {d.view.task_id for d in disclosures} == {t.task_id for t in expected}
    assert all(d.view.status is TaskStatus.DELIVERED for d in disclosures)
    assert len({d.audit.audit_id for d in disclosures}) == len(expected)
    [kept] = _of(planned, KeepTasks)
    assert [new.task.task_id for new in kept.tasks] == [t.task_id for t in expected]
    assert all(new.task.revision == 1 for new in kept.tasks)
    [announced] = _of(planned, Progress)
    assert announced.event.event == "planned" and len(announced.event.tasks) == len(expected)


def test_the_same_work_again_sends_nothing() -> None:
    first = plan_for_group(_slot(), _work(), POLICY, T0)
    again = plan_for_group(first.slot, _work(), POLICY, T0 + timedelta(minutes=1))
    assert again.outputs == ()
    assert again.slot.incident_plan == first.slot.incident_plan


def test_an_unknown_group_parks_the_work_and_its_profile_releases_it() -> None:
    parked = plan_for_group(_slot(known=False), _work(), POLICY, T0)
    assert parked.outputs == () and parked.slot.parked is not None
    assert parked.slot.plans.waiting == ("INC-TEST-1",)
    profile_known = GroupSlot(group(), parked.slot.plans, None, parked.slot.parked)
    planned = plan_for_group(profile_known, parked.slot.parked.work, POLICY, T0)
    assert _of(planned, Disclosure)
    assert planned.slot.parked is None and planned.slot.plans.waiting == ()


def test_too_many_incidents_waiting_for_one_group_are_refused() -> None:
    slot = _slot(known=False)
    for n in range(MAX_WAITING_PER_GROUP):
        work = _work(incident(incident_id=f"INC-WAIT-{n}"))
        plans = plan_for_group(slot, work, POLICY, T0).slot.plans
        slot = GroupSlot(None, plans)
    with pytest.raises(Refused) as refused:
        plan_for_group(slot, _work(incident(incident_id="INC-WAIT-LAST")), POLICY, T0)
    assert refused.value.code is RejectionCode.UNKNOWN_GROUP


def test_giving_up_reports_each_waiting_message_once_the_wait_is_over() -> None:
    first = plan_for_group(_slot(known=False), _work(), POLICY, T0).slot
    second_source = SOURCE.model_copy(update={"offset": 8})
    both = plan_for_group(first, _work(source=second_source), POLICY, T0).slot
    give_up = GiveUpWaiting(group_id="GRP-TEST-A", incident_id="INC-TEST-1")
    assert give_up_waiting(both, give_up, WAIT, T0 + WAIT / 2).outputs == ()
    decided = give_up_waiting(both, give_up, WAIT, T0 + WAIT)
    reports = _of(decided, ReportUnknownGroup)
    assert [r.report.source.offset for r in reports] == [7, 8]
    assert decided.slot.parked is None and decided.slot.plans.waiting == ()


def test_a_retraction_cancels_every_task_and_forgets_the_plan() -> None:
    planned = plan_for_group(_slot(), _work(), POLICY, T0)
    retraction = IncidentRetracted(
        incident_id="INC-TEST-1",
        version=2,
        retracted_at=T0,
        reason="invented: wrong group",
        source_system="test",
    )
    work = RetractForGroup(group_id="GRP-TEST-A", retraction=retraction, source=SOURCE)
    retracted = plan_for_group(planned.slot, work, POLICY, T0)
    cancelled = {i.command.task_id for i in _of(retracted, Instruct)}
    [kept] = _of(planned, KeepTasks)
    assert cancelled == {new.task.task_id for new in kept.tasks}
    assert retracted.slot.incident_plan is None
    assert retracted.slot.plans.history.entries == ()


def test_a_task_cancelled_earlier_is_never_sent_again_when_a_later_version_calls_for_it() -> None:
    first = plan_for_group(_slot(), _work(), POLICY, T0)
    dropped = plan_for_group(first.slot, _work(correction(version=2), attributed=False), POLICY, T0)
    assert len(_of(dropped, Instruct)) == len(_of(first, Disclosure))
    back = plan_for_group(dropped.slot, _work(correction(version=3)), POLICY, T0)
    assert _of(back, Disclosure) == [] and _of(back, KeepTasks) == []


@settings(max_examples=40, deadline=None)
@given(groups(), incidents(), st.integers(1, 8))
def test_every_dispatched_task_is_kept_exactly_once_in_a_message_of_its_own_partition(
    profile,
    reported,
    partitions: int,  # type: ignore[no-untyped-def]
) -> None:
    slot = GroupSlot(profile, GroupPlans.empty(profile.group_id))
    work = PlanForGroup(
        group_id=profile.group_id, incident=reported, attributed=True, source=SOURCE
    )
    planned = plan_for_group(slot, work, policy_for_incident(POLICY, reported), T0)
    catalogue = build_catalogue("gvi.", partitions, POLICY.recipient_ids)
    messages = messages_of(planned.outputs, catalogue, partitions, "worker-1", T0)
    kept: Counter[str] = Counter()
    for message in messages:
        if message.topic != catalogue.task_commands.name:
            continue
        command = CreateTasks.model_validate_json(message.value)
        assert 1 <= len(command.tasks) <= KEPT_PER_MESSAGE
        for new in command.tasks:
            task_id = str(new.task.task_id)
            assert partition_of(task_id, partitions) == partition_of(message.key, partitions)
            kept[task_id] += 1
    disclosed = [m for m in messages if m.topic.startswith("gvi.tasks.")]
    assert kept == Counter(m.key for m in disclosed)
    assert all(count == 1 for count in kept.values())


def test_a_group_of_200_members_is_kept_in_messages_of_at_most_100_tasks() -> None:
    big = group(
        "GRP-TEST-A",
        members=tuple(
            group().members[0].model_copy(update={"person_ref": f"P-INVENTED-{n}"})
            for n in range(200)
        ),
    )
    reported = incident(attributions=(attribution("GRP-TEST-A"),))
    slot = GroupSlot(big, GroupPlans.empty("GRP-TEST-A"))
    planned = plan_for_group(slot, _work(reported), policy_for_incident(POLICY, reported), T0)
    catalogue = build_catalogue("gvi.", 4, POLICY.recipient_ids)
    messages = messages_of(planned.outputs, catalogue, 4, "worker-1", T0)
    keeps = [m for m in messages if m.topic == catalogue.task_commands.name]
    assert len(_of(planned, Disclosure)) > 200
    assert all(len(m.value) < 1_000_000 for m in messages)
    assert len(keeps) >= 4


def test_tasks_for_an_unreachable_recipient_are_kept_as_created_and_not_sent() -> None:
    reported = incident()
    expected = plan(reported, {"GRP-TEST-A": group()}, {}, POLICY).tasks
    silent = expected[0].recipient
    planned = plan_for_group(_slot(), _work(reported), POLICY, T0, frozenset({silent}))
    disclosures = _of(planned, Disclosure)
    assert {d.view.task_id for d in disclosures} == {
        t.task_id for t in expected if t.recipient != silent
    }
    [kept] = _of(planned, KeepTasks)
    assert {new.task.task_id for new in kept.tasks} == {t.task_id for t in expected}
    for new in kept.tasks:
        wanted = TaskStatus.CREATED if new.task.recipient == silent else TaskStatus.DELIVERED
        assert new.task.status is wanted and new.task.revision == 1
    [announced] = _of(planned, Progress)
    assert {t.task_id for t in announced.event.tasks} == {t.task_id for t in expected}


def test_a_duplicate_of_a_planned_version_changes_nothing_after_an_earlier_retraction() -> None:
    first = incident(incident_id="INC-TEST-A")
    second = incident(
        incident_id="INC-TEST-B",
        occurred_at=T0 + timedelta(days=3),
        reported_at=T0 + timedelta(days=3, minutes=20),
    )
    planned_a = plan_for_group(_slot(), _work(first), POLICY, T0)
    on_b = GroupSlot(group(), planned_a.slot.plans)
    planned_b = plan_for_group(on_b, _work(second), POLICY, T0 + timedelta(days=3))
    [kept_b] = _of(planned_b, KeepTasks)
    assert max(new.task.tier for new in kept_b.tasks) >= 2, "B is a repeat: a higher tier"

    retraction = IncidentRetracted(
        incident_id="INC-TEST-A",
        version=2,
        retracted_at=T0 + timedelta(days=4),
        reason="invented: wrong group",
        source_system="test",
    )
    on_a = GroupSlot(group(), planned_b.slot.plans, planned_a.slot.incident_plan)
    work = RetractForGroup(group_id="GRP-TEST-A", retraction=retraction, source=SOURCE)
    retracted = plan_for_group(on_a, work, POLICY, T0 + timedelta(days=4))

    again = GroupSlot(group(), retracted.slot.plans, planned_b.slot.incident_plan)
    duplicate = plan_for_group(again, _work(second), POLICY, T0 + timedelta(days=5))
    assert duplicate.outputs == ()
    assert duplicate.slot.incident_plan == planned_b.slot.incident_plan
    assert duplicate.slot.plans == retracted.slot.plans


def test_a_version_planned_without_tasks_is_remembered_so_a_duplicate_changes_nothing() -> None:
    unqualified = incident(attributions=(attribution(confidence=0.9),))
    planned = plan_for_group(_slot(), _work(unqualified, attributed=False), POLICY, T0)
    assert planned.slot.incident_plan is not None
    assert planned.slot.incident_plan.version == unqualified.version
    again = plan_for_group(planned.slot, _work(unqualified, attributed=False), POLICY, T0)
    assert again.outputs == ()


@given(profile=groups(), reported=incidents(), unreachable=st.sets(st.sampled_from(RECIPIENTS)))
@settings(max_examples=60, deadline=None)
def test_what_planning_builds_from_validated_tasks_without_validating_again_is_valid(
    profile: GroupProfile, reported: IncidentReported, unreachable: set[str]
) -> None:
    """Views, audit records, task lines and snapshots are built from tasks validated once
    (`model_construct`): each must be what validating its own JSON gives."""
    slot = GroupSlot(profile, GroupPlans.empty(profile.group_id))
    work = PlanForGroup(
        group_id=profile.group_id, incident=reported, attributed=True, source=SOURCE
    )
    planned = plan_for_group(slot, work, POLICY, T0, frozenset(unreachable))
    built: list[BaseModel] = []
    for output in planned.outputs:
        match output:
            case Disclosure(view=view, audit=audit):
                built += [view, audit]
                assert audit.fields == disclosed_fields(view)
            case Progress(event=event):
                built.append(event)
                snapshot = completion_snapshot(
                    event.incident_id, event.incident_version, event.policy_version, event.tasks, T0
                )
                built += [snapshot, *snapshot.tasks]
    assert built or not planned.outputs
    for model in built:
        assert type(model).model_validate_json(model.model_dump_json()) == model, model
    plan = planned.slot.incident_plan
    if plan is not None:
        assert IncidentPlan.model_validate_json(plan.model_dump_json()) == plan

"""The planning agent's decisions for one group and incident: (slot, work, now) -> (slot', outputs).

New tasks are dispatched here, straight to their recipients' topics: the planner holds the
incident and the group's profile that the projection needs, so a task reaches its recipient
in two internal hops (group work, then the recipient topic) and travels once.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from schemas.common import amended, built
from schemas.group import GroupProfile
from schemas.rejection import Refused, RejectionCode
from schemas.task import SanctionTask
from workers.core.decision import Decision, Outcome
from workers.core.lifecycle import mark_delivered
from workers.core.messages import (
    CancelTask,
    GiveUpWaiting,
    NewTask,
    PlanForGroup,
    RetractForGroup,
    SourceRef,
    TaskEvent,
    TaskLine,
    UnknownGroupReport,
)
from workers.core.outputs import (
    Disclosure,
    Instruct,
    KeepTasks,
    Output,
    Progress,
    ReportUnknownGroup,
)
from workers.core.planner import (
    IncidentFacts,
    PlanDiff,
    diff_retraction,
    history_entry,
    replan_group,
    with_entry,
    without_incident,
)
from workers.core.policy import Policy
from workers.core.projection import contexts_for, view_of
from workers.core.records import GroupPlans, IncidentPlan, ParkedIncident

PLANNED_CHUNK = 200
"""Tasks per `planned` event: keeps each message well below Kafka's default 1 MB limit."""
MAX_WAITING_PER_GROUP = 50
MAX_SOURCES_PER_PARKED = 20


@dataclass(frozen=True)
class GroupSlot:
    """What planning holds for one group and one incident."""

    group: GroupProfile | None
    plans: GroupPlans
    incident_plan: IncidentPlan | None = None
    parked: ParkedIncident | None = None


@dataclass(frozen=True)
class Planned(Decision[GroupSlot]):
    """The planning stage's decision, with the number of tasks it added and cancelled."""

    added: int = 0
    cancelled: int = 0


def plan_for_group(
    slot: GroupSlot,
    work: PlanForGroup | RetractForGroup,
    policy: Policy,
    now: datetime,
    unreachable: frozenset[str] = frozenset(),
) -> Planned:
    """Plan, re-plan or retract one incident for one group. An incident attributed to a group
    whose profile is not known yet is parked (police often publish the incident first);
    raises Refused when too many incidents already wait for that group. A new task for a
    recipient in `unreachable` (its topic cannot be written now) is kept as created and not
    sent: the deadline timer sends it once the topic takes messages again."""
    if isinstance(work, PlanForGroup) and work.attributed and slot.group is None:
        return _parked(slot, work, now)
    if (
        isinstance(work, PlanForGroup)
        and slot.incident_plan is not None
        and slot.incident_plan.version == work.incident.version
    ):
        # This group planned this version already: a duplicate must not plan it again with
        # today's history (a later retraction of an earlier incident lowers the tier).
        return Planned(unparked(slot, work.incident_id), (), Outcome.VERSION_ALREADY_PLANNED)
    slot = unparked(slot, work.incident_id)
    plan = slot.incident_plan or IncidentPlan(version=0)
    history = slot.plans.history
    outputs: list[Output] = []
    match work:
        case RetractForGroup(retraction=retraction):
            diff = diff_retraction(plan.tasks, retraction)
            version = retraction.version
            history = without_incident(history, work.incident_id)
        case PlanForGroup(incident=incident, attributed=attributed):
            version = incident.version
            decision, diff = replan_group(
                incident,
                work.group_id,
                slot.group,
                slot.plans.history,
                policy,
                attributed,
                plan.tasks,
            )
            diff = replace(diff, add=tuple(t for t in diff.add if t.task_id not in plan.cancelled))
            history = (
                without_incident(history, work.incident_id)
                if decision is None
                else with_entry(history, history_entry(incident, decision), policy)
            )
            if slot.group is not None and diff.add:
                outputs.extend(
                    _dispatched(diff, incident, slot.group, policy, now, work.source, unreachable)
                )
    outputs.extend(_cancellations(diff, version, now, work.source))
    remaining = diff.remaining()
    if not remaining and not diff.cancel:
        outputs.append(Progress(_event("no_tasks", work.incident_id, version, policy, (), now)))
    cancelled = (*plan.cancelled, *(c.task.task_id for c in diff.cancel))
    incident_plan = (
        None
        if isinstance(work, RetractForGroup)
        else IncidentPlan(version=version, tasks=remaining, cancelled=cancelled)
    )
    plans = amended(slot.plans, history=history)
    return Planned(
        GroupSlot(slot.group, plans, incident_plan, None),
        tuple(outputs),
        Outcome.GROUP_PLANNED,
        added=len(diff.add),
        cancelled=len(diff.cancel),
    )


def give_up_waiting(
    slot: GroupSlot, work: GiveUpWaiting, wait: timedelta, now: datetime
) -> Planned:
    """Stop waiting for a group's profile once `wait` has passed: intake answers each waiting
    message once (`unknown_group`)."""
    waiting = slot.parked
    if waiting is None or not waiting.expired_at(now, wait):
        return Planned(slot)
    reports = tuple(
        ReportUnknownGroup(
            UnknownGroupReport(
                incident_id=work.incident_id,
                version=waiting.work.incident.version,
                group_id=work.group_id,
                waited_seconds=wait.total_seconds(),
                source=source,
            )
        )
        for source in waiting.sources
    )
    return Planned(unparked(slot, work.incident_id), reports, Outcome.PARKED_INCIDENT_GIVEN_UP)


def _parked(slot: GroupSlot, work: PlanForGroup, now: datetime) -> Planned:
    earlier = slot.parked
    sources = earlier.sources if earlier is not None else ()
    if work.source not in sources:
        sources = (*sources, work.source)[-MAX_SOURCES_PER_PARKED:]
    plans = slot.plans
    if work.incident_id not in plans.waiting:
        if len(plans.waiting) >= MAX_WAITING_PER_GROUP:
            raise Refused(
                f"attributed group {work.group_id!r} is not in the group registry, and "
                f"{MAX_WAITING_PER_GROUP} incidents already wait for it",
                RejectionCode.UNKNOWN_GROUP,
            )
        plans = amended(plans, waiting=(*plans.waiting, work.incident_id))
    parked_at = earlier.parked_at if earlier is not None else now
    parked = ParkedIncident(work=work, sources=sources, parked_at=parked_at)
    return Planned(
        GroupSlot(slot.group, plans, slot.incident_plan, parked),
        (),
        Outcome.INCIDENT_PARKED,
    )


def unparked(slot: GroupSlot, incident_id: str) -> GroupSlot:
    waiting = tuple(i for i in slot.plans.waiting if i != incident_id)
    plans = amended(slot.plans, waiting=waiting)
    return GroupSlot(slot.group, plans, slot.incident_plan, None)


def _dispatched(
    diff: PlanDiff,
    incident: IncidentFacts,
    group: GroupProfile,
    policy: Policy,
    now: datetime,
    source: SourceRef,
    unreachable: frozenset[str],
) -> list[Output]:
    """Each new task to its recipient (as delivered, with its audit record; kept as created
    when its recipient is unreachable), the whole set to completion, and each to the task
    agent to keep."""
    tasks = [
        amended(
            task if task.recipient in unreachable else mark_delivered(task, now).task, revision=1
        )
        for task in diff.add
    ]
    kept = tuple(
        built(NewTask, task=task, context=context)
        for task, context in zip(tasks, contexts_for(tasks, incident, group, policy), strict=True)
    )
    outputs: list[Output] = [
        Disclosure.of(new.task, view_of(new.task, new.context, policy), "created", now)
        for new in kept
        if new.task.recipient not in unreachable
    ]
    for start in range(0, len(tasks), PLANNED_CHUNK):
        chunk = tuple(tasks[start : start + PLANNED_CHUNK])
        outputs.append(
            Progress(_event("planned", incident.incident_id, incident.version, policy, chunk, now))
        )
    outputs.append(KeepTasks(kept, source))
    return outputs


def _cancellations(diff: PlanDiff, version: int, now: datetime, source: SourceRef) -> list[Output]:
    return [
        Instruct(
            CancelTask(
                task_id=cancellation.task.task_id,
                incident_version=version,
                reason=cancellation.reason[:2000],
                at=now,
                source=source,
            )
        )
        for cancellation in diff.cancel
    ]


def _event(
    kind: Literal["planned", "no_tasks"],
    incident_id: str,
    version: int,
    policy: Policy,
    tasks: tuple[SanctionTask, ...],
    now: datetime,
) -> TaskEvent:
    return built(
        TaskEvent,
        event=kind,
        incident_id=incident_id,
        incident_version=version,
        policy_version=policy.policy_version,
        partnership=policy.partnership,
        tasks=tuple(TaskLine.of(task) for task in tasks),
        at=now,
    )

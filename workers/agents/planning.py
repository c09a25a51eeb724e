"""Planning per group: the group registry, each incident's plan for the group, and incidents that
wait for a group's profile."""

from datetime import timedelta
from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode, decode_internal, encode, key_text, require_key
from events.envelopes import GroupWork, TaskCommand, TaskCommandKind, TaskEvent, UnknownGroupReport
from schemas.group import GroupProfile
from schemas.incident import IncidentCorrected, IncidentReported
from schemas.rejection import Refused, RejectionCode
from workers.core.planner import (
    PlanDiff,
    diff_retraction,
    history_entry,
    replan_group,
    with_entry,
    without_incident,
)
from workers.core.projection import project_task
from workers.runtime import RefusedAt, Runtime, answering_at, subscribe, utc_now
from workers.state import GroupPlans, IncidentPlan, ParkedIncident, plan_key

log = structlog.get_logger("gvi.planning")
PLANNED_CHUNK = 200
"""Tasks per `planned` event: keeps each message well below Kafka's default 1 MB limit."""
MAX_WAITING_PER_GROUP = 50
MAX_SOURCES_PER_PARKED = 20


def register(app: Any, runtime: Runtime) -> None:
    """Register the planning agent on the group profiles and the internal group work, which are
    co-partitioned by group id."""
    catalogue = runtime.catalogue
    groups = runtime.tables["groups"]
    group_plans = runtime.tables["group-plans"]
    incident_plans = runtime.tables["incident-plans"]
    parked = runtime.tables["parked-incidents"]
    parked_wait = timedelta(seconds=runtime.settings.parked_incident_seconds)

    def load_plans(group_id: str) -> GroupPlans:
        stored = group_plans.get(group_id)
        return GroupPlans.model_validate(stored) if stored else GroupPlans.empty(group_id)

    def load_group(group_id: str) -> GroupProfile | None:
        stored = groups.get(group_id)
        return GroupProfile.model_validate(stored) if stored else None

    def load_parked(key: str) -> ParkedIncident | None:
        stored = parked.get(key)
        return ParkedIncident.model_validate(stored) if stored else None

    async def register_group(event: EventT[Any]) -> None:
        key = key_text(event.key)
        if event.value is None and key:
            groups.pop(key, None)
            log.info("group removed", group_id=key)
            return
        profile = decode(GroupProfile, event.value)
        require_key(event.key, profile.group_id)
        groups[profile.group_id] = profile.model_dump(mode="json")
        log.info("group registered", group_id=profile.group_id, members=len(profile.members))
        for incident_id in load_plans(profile.group_id).waiting:
            waiting = load_parked(plan_key(profile.group_id, incident_id))
            if waiting is None:
                unpark(profile.group_id, incident_id)
                continue
            try:
                with answering_at(waiting.work.source):
                    await plan(waiting.work)
            except RefusedAt as refusal:
                unpark(profile.group_id, incident_id)
                await runtime.reject(refusal.source, refusal.code, refusal.message)
                continue
            log.info(
                "parked incident planned now that its group is known",
                group_id=profile.group_id,
                incident_id=incident_id,
                messages=len(waiting.sources),
            )

    async def take_work(event: EventT[Any]) -> None:
        work = decode_internal(GroupWork, event.value)
        with answering_at(work.source):
            if work.expire_parked is not None:
                await expire(work)
            else:
                await plan(work)

    def park(work: GroupWork) -> None:
        """Keep the work of an incident whose group is not known yet; police often publish the
        incident before the group's profile."""
        key = plan_key(work.group_id, work.incident_id)
        earlier = load_parked(key)
        sources = earlier.sources if earlier is not None else ()
        if work.source not in sources:
            sources = (*sources, work.source)[-MAX_SOURCES_PER_PARKED:]
        plans = load_plans(work.group_id)
        if work.incident_id not in plans.waiting:
            if len(plans.waiting) >= MAX_WAITING_PER_GROUP:
                raise Refused(
                    f"attributed group {work.group_id!r} is not in the group registry, and "
                    f"{MAX_WAITING_PER_GROUP} incidents already wait for it",
                    RejectionCode.UNKNOWN_GROUP,
                )
            plans = plans.model_copy(update={"waiting": (*plans.waiting, work.incident_id)})
            group_plans[work.group_id] = plans.model_dump(mode="json")
        parked_at = earlier.parked_at if earlier is not None else utc_now()
        parked[key] = ParkedIncident(work=work, sources=sources, parked_at=parked_at).model_dump(
            mode="json"
        )
        log.info(
            "incident parked until its group is known",
            group_id=work.group_id,
            incident_id=work.incident_id,
        )

    def unpark(group_id: str, incident_id: str) -> None:
        parked.pop(plan_key(group_id, incident_id), None)
        plans = load_plans(group_id)
        if incident_id not in plans.waiting:
            return
        waiting = tuple(i for i in plans.waiting if i != incident_id)
        group_plans[group_id] = plans.model_copy(update={"waiting": waiting}).model_dump(
            mode="json"
        )

    async def expire(work: GroupWork) -> None:
        """Give up waiting for a group's profile: intake answers each waiting message once."""
        incident_id = work.incident_id
        waiting = load_parked(plan_key(work.group_id, incident_id))
        if waiting is None or not waiting.expired_at(utc_now(), parked_wait):
            return
        version = waiting.work.incident.version if waiting.work.incident else 0
        for source in waiting.sources:
            report = UnknownGroupReport(
                incident_id=incident_id,
                version=version,
                group_id=work.group_id,
                waited_seconds=parked_wait.total_seconds(),
                source=source,
            )
            await runtime.send(catalogue.unknown_groups.name, incident_id, encode(report))
        unpark(work.group_id, incident_id)
        log.warning(
            "parked incident given up: its group stayed unknown",
            group_id=work.group_id,
            incident_id=incident_id,
        )

    async def plan(work: GroupWork) -> None:
        group = load_group(work.group_id)
        if work.incident is not None and work.attributed and group is None:
            park(work)
            return
        unpark(work.group_id, work.incident_id)
        key = plan_key(work.group_id, work.incident_id)
        stored = incident_plans.get(key)
        current = IncidentPlan.model_validate(stored).tasks if stored else ()
        plans = load_plans(work.group_id)
        history = without_incident(plans.history, work.incident_id)
        if work.retraction is not None:
            diff = diff_retraction(current, work.retraction)
            version = work.retraction.version
        else:
            incident = _facts(work)
            version = incident.version
            decision, diff = replan_group(
                incident,
                work.group_id,
                group,
                plans.history,
                runtime.policy,
                work.attributed,
                current,
            )
            if decision is not None:
                history = with_entry(history, history_entry(incident, decision), runtime.policy)
            if group is not None:
                await dispatch(work, incident, group, diff)
        await cancel(work, version, diff)
        remaining = diff.remaining()
        if not remaining and not diff.cancel:
            no_tasks = TaskEvent(
                event="no_tasks",
                incident_id=work.incident_id,
                incident_version=version,
                policy_version=runtime.policy.policy_version,
                at=utc_now(),
            )
            await runtime.send(catalogue.task_events.name, work.incident_id, encode(no_tasks))
        if work.retraction is not None or not remaining:
            incident_plans.pop(key, None)
        else:
            incident_plans[key] = IncidentPlan(version=version, tasks=remaining).model_dump(
                mode="json"
            )
        if history != plans.history:
            group_plans[work.group_id] = plans.model_copy(update={"history": history}).model_dump(
                mode="json"
            )
        log.info(
            "group planned",
            group_id=work.group_id,
            incident_id=work.incident_id,
            version=version,
            added=len(diff.add),
            cancelled=len(diff.cancel),
            kept=len(diff.keep),
        )

    async def dispatch(
        work: GroupWork,
        incident: IncidentReported | IncidentCorrected,
        group: GroupProfile,
        diff: PlanDiff,
    ) -> None:
        now = utc_now()
        for start in range(0, len(diff.add), PLANNED_CHUNK):
            planned = TaskEvent(
                event="planned",
                incident_id=incident.incident_id,
                incident_version=incident.version,
                policy_version=runtime.policy.policy_version,
                tasks=diff.add[start : start + PLANNED_CHUNK],
                at=now,
            )
            await runtime.send(catalogue.task_events.name, incident.incident_id, encode(planned))
        for task in diff.add:
            command = TaskCommand(
                command=TaskCommandKind.CREATE,
                task=task,
                incident_version=incident.version,
                view=project_task(task, incident, group, runtime.policy),
                at=now,
                source=work.source,
            )
            await runtime.send(catalogue.task_commands.name, str(task.task_id), encode(command))

    async def cancel(work: GroupWork, version: int, diff: PlanDiff) -> None:
        now = utc_now()
        for cancellation in diff.cancel:
            command = TaskCommand(
                command=TaskCommandKind.CANCEL,
                task_id=cancellation.task.task_id,
                incident_version=version,
                reason=cancellation.reason[:2000],
                at=now,
                source=work.source,
            )
            await runtime.send(
                catalogue.task_commands.name, str(cancellation.task.task_id), encode(command)
            )

    subscribe(
        app,
        runtime,
        "group-planning",
        {
            catalogue.group_work.name: take_work,
            catalogue.groups.name: register_group,
            catalogue.routed_from(catalogue.groups).name: register_group,
        },
    )


def _facts(work: GroupWork) -> IncidentReported | IncidentCorrected:
    if work.incident is None:
        raise ValueError("group work without an incident or a retraction")
    return work.incident

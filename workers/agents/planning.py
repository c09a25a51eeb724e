"""Planning per group: the group's decision for an incident, sent as task commands."""

from typing import Any

import structlog
from faust.types import EventT, StreamT

from events.codec import decode, encode
from events.envelopes import GroupWork, TaskCommand, TaskCommandKind, TaskEvent
from schemas.group import GroupProfile
from workers.core.planner import (
    UnknownGroup,
    diff_retraction,
    history_entry,
    replan_group,
    with_entry,
    without_incident,
)
from workers.core.projection import project_task
from workers.runtime import RefusedAt, Runtime, guarded, utc_now
from workers.state import GroupPlans

log = structlog.get_logger("gvi.planning")
PLANNED_CHUNK = 200
"""Tasks per `planned` event: keeps each message well below Kafka's default 1 MB limit."""


def register(app: Any, runtime: Runtime) -> None:
    """Register the planning agent on the internal group-work topic (co-partitioned by group id)."""
    catalogue = runtime.catalogue
    groups = runtime.tables["groups"]
    group_plans = runtime.tables["group-plans"]

    async def plan_for_group(event: EventT[Any]) -> None:
        work = decode(GroupWork, event.value)
        stored_plans = group_plans.get(work.group_id)
        plans = (
            GroupPlans.model_validate(stored_plans)
            if stored_plans
            else GroupPlans.empty(work.group_id)
        )
        stored_group = groups.get(work.group_id)
        group = GroupProfile.model_validate(stored_group) if stored_group else None
        incident_id = work.retraction.incident_id if work.retraction else _facts(work).incident_id
        current = plans.incidents.get(incident_id, ())
        history = plans.history
        now = utc_now()

        if work.retraction is not None:
            diff = diff_retraction(current, work.retraction)
            version = work.retraction.version
            history = without_incident(history, incident_id)
        else:
            incident = _facts(work)
            version = incident.version
            try:
                decision, diff = replan_group(
                    incident,
                    work.group_id,
                    group,
                    history,
                    runtime.policy,
                    work.attributed,
                    current,
                )
            except UnknownGroup as unknown:
                raise RefusedAt(unknown, work.source) from None
            if decision is not None:
                history = with_entry(history, history_entry(incident, decision), runtime.policy)
            else:
                history = without_incident(history, incident_id)
            if group is not None:
                for start in range(0, len(diff.add), PLANNED_CHUNK):
                    planned = TaskEvent(
                        event="planned",
                        incident_id=incident_id,
                        incident_version=version,
                        policy_version=runtime.policy.policy_version,
                        tasks=diff.add[start : start + PLANNED_CHUNK],
                        at=now,
                    )
                    await runtime.send(catalogue.task_events.name, incident_id, encode(planned))
                for task in diff.add:
                    command = TaskCommand(
                        command=TaskCommandKind.CREATE,
                        task=task,
                        incident_version=version,
                        view=project_task(task, incident, group, runtime.policy),
                        at=now,
                        source=work.source,
                    )
                    await runtime.send(
                        catalogue.task_commands.name, str(task.task_id), encode(command)
                    )
        for cancellation in diff.cancel:
            command = TaskCommand(
                command=TaskCommandKind.CANCEL,
                task=cancellation.task,
                incident_version=version,
                reason=cancellation.reason[:2000],
                at=now,
                source=work.source,
            )
            await runtime.send(
                catalogue.task_commands.name, str(cancellation.task.task_id), encode(command)
            )
        remaining = (*diff.keep, *diff.add)
        if not remaining and not diff.cancel:
            no_tasks = TaskEvent(
                event="no_tasks",
                incident_id=incident_id,
                incident_version=version,
                policy_version=runtime.policy.policy_version,
                at=now,
            )
            await runtime.send(catalogue.task_events.name, incident_id, encode(no_tasks))
        incidents = dict(plans.incidents)
        if work.retraction is not None or not remaining:
            incidents.pop(incident_id, None)
        else:
            incidents[incident_id] = remaining
        updated = GroupPlans(group_id=work.group_id, history=history, incidents=incidents)
        group_plans[work.group_id] = updated.model_dump(mode="json")
        log.info(
            "group planned",
            group_id=work.group_id,
            incident_id=incident_id,
            version=version,
            added=len(diff.add),
            cancelled=len(diff.cancel),
            kept=len(diff.keep),
        )

    @app.agent(runtime.topics[catalogue.group_work.name], name="group-planning")  # type: ignore[untyped-decorator]
    async def group_planning(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await guarded(runtime, event, plan_for_group)


def _facts(work: GroupWork) -> Any:
    if work.incident is None:
        raise ValueError("group work without an incident or a retraction")
    return work.incident

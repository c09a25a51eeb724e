"""Invented incidents and groups for the integration tier, with reports dated now."""

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    GroupProfile,
    IncidentReported,
    IncidentRetracted,
    SanctionTask,
    TaskStatus,
    TaskStatusChange,
)
from tests.support.builders import attribution, group, incident
from workers.core.partnerships import policy_for_incident
from workers.core.planner import plan
from workers.policies import load_policy

POLICY = load_policy()


def fresh_incident(
    incident_id: str, group_id: str = "GRP-TEST-A", **overrides: Any
) -> IncidentReported:
    now = datetime.now(UTC).replace(microsecond=0)
    fields: dict[str, Any] = {
        "incident_id": incident_id,
        "occurred_at": now - timedelta(minutes=30),
        "reported_at": now - timedelta(minutes=5),
        "attributions": (attribution(group_id),),
    }
    fields.update(overrides)
    return incident(**fields)


def notified_group(group_id: str = "GRP-TEST-A") -> GroupProfile:
    return group(group_id).model_copy(
        update={
            "notifications": tuple(
                n.model_copy(update={"delivered_at": datetime.now(UTC) - timedelta(days=30)})
                for n in group(group_id).notifications
            )
        }
    )


def expected_tasks(reported: IncidentReported, *groups: GroupProfile) -> list[SanctionTask]:
    """The planner's tasks for an incident, as the worker must produce them: with the
    playbook of the incident's partnership."""
    policy = policy_for_incident(POLICY, reported)
    return list(plan(reported, {g.group_id: g for g in groups}, {}, policy).tasks)


def update(
    task_id: str, recipient: str, status: TaskStatus, reason: str | None = None
) -> TaskStatusChange:
    return TaskStatusChange(
        task_id=task_id,  # type: ignore[arg-type]
        recipient=recipient,
        status=status,
        changed_at=datetime.now(UTC),
        reported_by=f"{recipient}-handlaggare-1",
        reason=reason,
    )


def retraction(
    reported: IncidentReported, reason: str, at: datetime | None = None
) -> IncidentRetracted:
    """The withdrawal of `reported` as version 2, with an invented reason."""
    return IncidentRetracted(
        incident_id=reported.incident_id,
        version=2,
        retracted_at=at or reported.reported_at,
        reason=reason,
        source_system="test-feed",
    )

"""Incident intake: exact duplicates, stale versions and which groups must (re)plan an incident."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.common import amended
from schemas.incident import IncidentCorrected, IncidentReported, IncidentRetracted
from schemas.rejection import Refused, RejectionCode
from workers.core.messages import (
    GroupWork,
    PlanForGroup,
    RetractForGroup,
    SourceRef,
    TaskEvent,
)
from workers.core.outputs import HandToGroup, Output, Progress
from workers.core.partnerships import PolicyBook
from workers.core.planner import qualifying_attributions
from workers.core.policy import Policy

IncidentEvent = IncidentReported | IncidentCorrected | IncidentRetracted


class IncidentRecord(BaseModel):
    """What intake keeps of an incident: its latest version and the groups it was planned for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str
    version: int
    digest: str
    groups: tuple[str, ...]
    retracted: bool = False
    policy_version: str | None = None
    """The effective playbook version that planned the incident; a correction is planned with
    the base version of the first report (docs/partnerships.md), so that no new version changes
    tasks already issued."""
    unknown_group_answered: tuple[str, ...] = ()
    """Coordinates (`topic/partition/offset`) of the messages of this version already answered
    `unknown_group`: an incident attributed to several unknown groups is answered once."""


@dataclass(frozen=True)
class GroupAssignment:
    """One group that must plan (attributed) or cancel (no longer attributed) the incident."""

    group_id: str
    attributed: bool


@dataclass(frozen=True)
class Admission:
    """The result of intake: the record to keep and the groups to involve.

    An exact duplicate is handed to the same groups again: planning is idempotent by task id,
    and a message that planning could not carry out (a group not yet known) then gets its
    chance again once the cause is fixed; intake never takes it for done on its own.
    """

    duplicate: bool
    record: IncidentRecord
    assignments: tuple[GroupAssignment, ...]


def policy_of(previous: IncidentRecord | None, event: IncidentEvent, book: PolicyBook) -> Policy:
    """The effective playbook for an incident event: a first report's is the version in force
    at its `reported_at`, for its municipality's partnership; a correction keeps the base
    version of the first report; a retraction, the version that planned the incident. Raises
    UnknownPartnership for a municipality that no partnership covers."""
    planned_with = previous.policy_version if previous is not None else None
    if isinstance(event, IncidentRetracted):
        known = book.effective(planned_with) if planned_with is not None else None
        return known or book.in_force(event.retracted_at)
    base = book.effective(planned_with) if planned_with is not None else None
    return book.for_incident(event, base.base_version if base is not None else None)


def digest_of(event: IncidentEvent) -> str:
    """A content digest of one incident event, to tell an exact duplicate from a conflict."""
    return hashlib.sha256(event.model_dump_json().encode("utf-8")).hexdigest()


def admit(previous: IncidentRecord | None, event: IncidentEvent, policy: Policy) -> Admission:
    """Decide what an incident event means given what was seen before; raises Refused."""
    digest = digest_of(event)
    if previous is not None:
        if event.version == previous.version:
            if digest == previous.digest:
                return Admission(
                    duplicate=True,
                    record=previous,
                    assignments=_assignments(event, previous.groups, policy),
                )
            raise Refused(
                f"incident {event.incident_id} version {event.version} was already received "
                "with different content; a change needs a higher version",
                RejectionCode.CONFLICTING_VERSION,
            )
        if event.version < previous.version:
            raise Refused(
                f"incident {event.incident_id} version {event.version} is older than the "
                f"version {previous.version} already processed",
                RejectionCode.STALE_VERSION,
            )
        if previous.retracted:
            raise Refused(
                f"incident {event.incident_id} was retracted at version {previous.version}",
                RejectionCode.INCIDENT_RETRACTED,
            )
    earlier_groups = previous.groups if previous is not None else ()
    if isinstance(event, IncidentRetracted):
        if previous is None:
            raise Refused(
                f"retraction of incident {event.incident_id}, which was never reported",
                RejectionCode.UNKNOWN_INCIDENT,
            )
        record = IncidentRecord(
            incident_id=event.incident_id,
            version=event.version,
            digest=digest,
            groups=earlier_groups,
            retracted=True,
            policy_version=previous.policy_version,
        )
        return Admission(
            duplicate=False,
            record=record,
            assignments=_assignments(event, earlier_groups, policy),
        )
    assignments = _assignments(event, earlier_groups, policy)
    record = IncidentRecord(
        incident_id=event.incident_id,
        version=event.version,
        digest=digest,
        groups=tuple(assignment.group_id for assignment in assignments),
        policy_version=policy.policy_version,
    )
    return Admission(duplicate=False, record=record, assignments=assignments)


def _assignments(
    event: IncidentEvent, earlier_groups: tuple[str, ...], policy: Policy
) -> tuple[GroupAssignment, ...]:
    """The groups that plan the event: attributed ones, then earlier ones that must cancel."""
    if isinstance(event, IncidentRetracted):
        return tuple(GroupAssignment(group, attributed=False) for group in earlier_groups)
    groups = tuple(attribution.group_id for attribution in qualifying_attributions(event, policy))
    dropped = tuple(group for group in earlier_groups if group not in groups)
    return tuple(GroupAssignment(group, attributed=True) for group in groups) + tuple(
        GroupAssignment(group, attributed=False) for group in dropped
    )


def answer_unknown_group(
    record: IncidentRecord | None, version: int, coordinates: str
) -> IncidentRecord | None:
    """The record after answering one message `unknown_group`; None when it needs no answer:
    already answered (another unknown group of the same message), or an older version."""
    if record is None or record.version != version:
        return None
    if coordinates in record.unknown_group_answered:
        return None
    answered = (*record.unknown_group_answered, coordinates)[-MAX_ANSWERED:]
    return amended(record, unknown_group_answered=answered)


MAX_ANSWERED = 20


def work_for_groups(
    event: IncidentEvent,
    admission: Admission,
    source: SourceRef,
    policy: Policy,
    now: datetime,
    published_at: datetime | None = None,
) -> tuple[Output, ...]:
    """Intake's outputs: the incident to each group that must plan it, or, when no group must,
    a decision without tasks for completion."""
    outputs: list[Output] = []
    for assignment in admission.assignments:
        work: GroupWork = (
            RetractForGroup(
                group_id=assignment.group_id,
                retraction=event,
                source=source,
                policy_version=policy.policy_version,
            )
            if isinstance(event, IncidentRetracted)
            else PlanForGroup(
                group_id=assignment.group_id,
                incident=event,
                attributed=assignment.attributed,
                source=source,
                published_at=published_at,
                policy_version=policy.base_version,
            )
        )
        outputs.append(HandToGroup(work))
    if not admission.assignments:
        no_tasks = TaskEvent(
            event="no_tasks",
            incident_id=event.incident_id,
            incident_version=event.version,
            policy_version=policy.policy_version,
            partnership=policy.partnership,
            at=now,
        )
        outputs.append(Progress(no_tasks))
    return tuple(outputs)

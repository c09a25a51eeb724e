"""Incident intake: exact duplicates, stale versions and which groups must (re)plan an incident."""

import hashlib
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from schemas.incident import IncidentCorrected, IncidentReported, IncidentRetracted
from schemas.rejection import Refused, RejectionCode
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


@dataclass(frozen=True)
class GroupAssignment:
    """One group that must plan (attributed) or cancel (no longer attributed) the incident."""

    group_id: str
    attributed: bool


@dataclass(frozen=True)
class Admission:
    """The result of intake: a duplicate to drop, or a new record and the groups to involve."""

    duplicate: bool
    record: IncidentRecord
    assignments: tuple[GroupAssignment, ...]


def digest_of(event: IncidentEvent) -> str:
    """A content digest of one incident event, to tell an exact duplicate from a conflict."""
    return hashlib.sha256(event.model_dump_json().encode("utf-8")).hexdigest()


def admit(previous: IncidentRecord | None, event: IncidentEvent, policy: Policy) -> Admission:
    """Decide what an incident event means given what was seen before; raises Refused."""
    digest = digest_of(event)
    if previous is not None:
        if event.version == previous.version:
            if digest == previous.digest:
                return Admission(duplicate=True, record=previous, assignments=())
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
        )
        assignments = tuple(GroupAssignment(group, attributed=False) for group in earlier_groups)
        return Admission(duplicate=False, record=record, assignments=assignments)
    groups = tuple(attribution.group_id for attribution in qualifying_attributions(event, policy))
    dropped = tuple(group for group in earlier_groups if group not in groups)
    record = IncidentRecord(
        incident_id=event.incident_id,
        version=event.version,
        digest=digest,
        groups=groups + dropped,
    )
    assignments = tuple(GroupAssignment(group, attributed=True) for group in groups) + tuple(
        GroupAssignment(group, attributed=False) for group in dropped
    )
    return Admission(duplicate=False, record=record, assignments=assignments)

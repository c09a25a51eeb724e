"""Incident intake: validate, drop exact duplicates, hand the incident to each group's planner."""

from dataclasses import dataclass
from typing import Any

import structlog
from faust.types import EventT
from pydantic import TypeAdapter

from events.catalogue import Catalogue
from events.codec import decode_internal, decode_with, require_key
from schemas.incident import IncidentEvent, IncidentRetracted
from schemas.rejection import RejectionCode
from workers.core.intake import (
    IncidentRecord,
    admit,
    answer_unknown_group,
    policy_of,
    work_for_groups,
)
from workers.core.messages import UnknownGroupReport
from workers.stream.pending import note
from workers.stream.runner import StageHandler
from workers.stream.runtime import Runtime, message_time, utc_now
from workers.stream.stores import Store, Writes

NAME = "incident-intake"
INCIDENT_EVENT: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)
log = structlog.get_logger("gvi.intake")


@dataclass(frozen=True)
class IntakeContext:
    runtime: Runtime
    incidents: Store[IncidentRecord]


def context(runtime: Runtime) -> IntakeContext:
    return IntakeContext(runtime, Store(runtime.tables["incidents"], IncidentRecord))


async def on_incident(ctx: IntakeContext, event: EventT[Any]) -> None:
    """A report, correction or retraction: admitted, then handed to each attributed group."""
    runtime, incident = ctx.runtime, decode_with(INCIDENT_EVENT, event.value)
    require_key(event.key, incident.incident_id)
    previous = ctx.incidents.get(incident.incident_id)
    if not isinstance(incident, IncidentRetracted):
        await runtime.policies_current_at(incident.reported_at)
    policy = policy_of(previous, incident, runtime.policies)
    admission = admit(previous, incident, policy)
    if admission.duplicate:
        log.info("duplicate incident handed to its groups again", incident_id=incident.incident_id)
    source, now = runtime.source_of(event), utc_now()
    outputs = work_for_groups(
        incident, admission, source, policy, now, published_at=message_time(event)
    )
    writes = Writes()
    writes.change(ctx.incidents, incident.incident_id, previous, admission.record)
    await runtime.commit(outputs, writes)
    note("incident admitted")
    log.debug(
        "incident admitted",
        incident_id=incident.incident_id,
        version=incident.version,
        partnership=policy.partnership,
        policy_version=policy.policy_version,
        groups=[a.group_id for a in admission.assignments],
    )


async def on_unknown_group(ctx: IntakeContext, event: EventT[Any]) -> None:
    """Planning gave up waiting for a group's profile: the incident is answered once."""
    report = decode_internal(UnknownGroupReport, event.value)
    source = report.source
    coordinates = f"{source.topic}/{source.partition}/{source.offset}"
    previous = ctx.incidents.get(report.incident_id)
    record = answer_unknown_group(previous, report.version, coordinates)
    if record is None:
        log.info("unknown group already answered", incident_id=report.incident_id)
        return
    writes = Writes()
    writes.put(ctx.incidents, report.incident_id, record)
    await ctx.runtime.reject(
        source,
        RejectionCode.UNKNOWN_GROUP,
        f"attributed group {report.group_id!r} is not in the group registry; the incident "
        f"waited {report.waited_seconds:.0f} s for its profile. Send the incident again once "
        "the group's profile is published.",
    )
    ctx.runtime.apply(writes)


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    incidents = catalogue.incidents
    return {
        incidents.name: on_incident,
        catalogue.routed_from(incidents).name: on_incident,
        catalogue.unknown_groups.name: on_unknown_group,
    }

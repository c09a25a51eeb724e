"""Incident intake: validate, drop exact duplicates, hand the incident to each group's planner."""

from typing import Any

import structlog
from faust.types import EventT
from pydantic import TypeAdapter

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
from workers.stream.runtime import Runtime, message_time, subscribe, utc_now
from workers.stream.stores import Store, Writes

log = structlog.get_logger("gvi.intake")
INCIDENT_EVENT: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)


def register(app: Any, runtime: Runtime) -> None:
    """Register the incident-intake agent on `gvi.incidents`."""
    catalogue = runtime.catalogue
    incidents = Store(runtime.tables["incidents"], IncidentRecord)

    async def admit_incident(event: EventT[Any]) -> None:
        incident = decode_with(INCIDENT_EVENT, event.value)
        require_key(event.key, incident.incident_id)
        previous = incidents.get(incident.incident_id)
        if not isinstance(incident, IncidentRetracted):
            await runtime.policies_current_at(incident.reported_at)
        policy = policy_of(previous, incident, runtime.policies)
        admission = admit(previous, incident, policy)
        if admission.duplicate:
            log.info(
                "duplicate incident handed to its groups again", incident_id=incident.incident_id
            )
        outputs = work_for_groups(
            incident,
            admission,
            runtime.source_of(event),
            policy,
            utc_now(),
            published_at=message_time(event),
        )
        writes = Writes()
        if admission.record != previous:
            writes.put(incidents, incident.incident_id, admission.record)
        await runtime.emit(outputs)
        runtime.apply(writes)
        log.info(
            "incident admitted",
            incident_id=incident.incident_id,
            version=incident.version,
            partnership=policy.partnership,
            policy_version=policy.policy_version,
            groups=[a.group_id for a in admission.assignments],
        )

    async def answer_unknown(event: EventT[Any]) -> None:
        report = decode_internal(UnknownGroupReport, event.value)
        previous = incidents.get(report.incident_id)
        source = report.source
        coordinates = f"{source.topic}/{source.partition}/{source.offset}"
        record = answer_unknown_group(previous, report.version, coordinates)
        if record is None:
            log.info("unknown group already answered", incident_id=report.incident_id)
            return
        writes = Writes()
        writes.put(incidents, report.incident_id, record)
        await runtime.reject(
            source,
            RejectionCode.UNKNOWN_GROUP,
            f"attributed group {report.group_id!r} is not in the group registry; the incident "
            f"waited {report.waited_seconds:.0f} s for its profile. Send the incident again once "
            "the group's profile is published.",
        )
        runtime.apply(writes)

    subscribe(
        app,
        runtime,
        "incident-intake",
        {
            catalogue.incidents.name: admit_incident,
            catalogue.routed_from(catalogue.incidents).name: admit_incident,
            catalogue.unknown_groups.name: answer_unknown,
        },
    )

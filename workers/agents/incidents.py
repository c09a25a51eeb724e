"""Incident intake: validate, drop exact duplicates, hand the incident to each group's planner."""

from typing import Any

import structlog
from faust.types import EventT
from pydantic import TypeAdapter

from events.codec import decode_internal, decode_with, encode, require_key
from events.envelopes import GroupWork, TaskEvent, UnknownGroupReport
from schemas.incident import IncidentEvent, IncidentRetracted
from schemas.rejection import RejectionCode
from workers.core.intake import IncidentRecord, admit, answer_unknown_group
from workers.runtime import Runtime, subscribe, utc_now

log = structlog.get_logger("gvi.intake")
INCIDENT_EVENT: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)


def register(app: Any, runtime: Runtime) -> None:
    """Register the incident-intake agent on `gvi.incidents`."""
    catalogue = runtime.catalogue
    incidents = runtime.tables["incidents"]

    async def admit_incident(event: EventT[Any]) -> None:
        incident = decode_with(INCIDENT_EVENT, event.value)
        require_key(event.key, incident.incident_id)
        stored = incidents.get(incident.incident_id)
        previous = IncidentRecord.model_validate(stored) if stored else None
        admission = admit(previous, incident, runtime.policy)
        if admission.duplicate:
            log.info(
                "duplicate incident handed to its groups again", incident_id=incident.incident_id
            )
        retraction = incident if isinstance(incident, IncidentRetracted) else None
        facts = None if isinstance(incident, IncidentRetracted) else incident
        source = runtime.source_of(event)
        for assignment in admission.assignments:
            work = GroupWork(
                group_id=assignment.group_id,
                incident=facts,
                retraction=retraction,
                attributed=assignment.attributed,
                source=source,
            )
            await runtime.send(catalogue.group_work.name, assignment.group_id, encode(work))
        if not admission.assignments:
            no_tasks = TaskEvent(
                event="no_tasks",
                incident_id=incident.incident_id,
                incident_version=incident.version,
                policy_version=runtime.policy.policy_version,
                at=utc_now(),
            )
            await runtime.send(catalogue.task_events.name, incident.incident_id, encode(no_tasks))
        incidents[incident.incident_id] = admission.record.model_dump(mode="json")
        log.info(
            "incident admitted",
            incident_id=incident.incident_id,
            version=incident.version,
            groups=[a.group_id for a in admission.assignments],
        )

    async def answer_unknown(event: EventT[Any]) -> None:
        report = decode_internal(UnknownGroupReport, event.value)
        stored = incidents.get(report.incident_id)
        previous = IncidentRecord.model_validate(stored) if stored else None
        source = report.source
        coordinates = f"{source.topic}/{source.partition}/{source.offset}"
        record = answer_unknown_group(previous, report.version, coordinates)
        if record is None:
            log.info("unknown group already answered", incident_id=report.incident_id)
            return
        await runtime.reject(
            source,
            RejectionCode.UNKNOWN_GROUP,
            f"attributed group {report.group_id!r} is not in the group registry; the incident "
            f"waited {report.waited_seconds:.0f} s for its profile. Send the incident again once "
            "the group's profile is published.",
        )
        incidents[report.incident_id] = record.model_dump(mode="json")

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

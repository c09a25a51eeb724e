"""Incident intake: validate, drop exact duplicates, hand the incident to each group's planner."""

from typing import Any

import structlog
from faust.types import EventT, StreamT
from pydantic import TypeAdapter

from events.codec import decode_with, encode, require_key
from events.envelopes import GroupWork, TaskEvent
from schemas.incident import IncidentEvent, IncidentRetracted
from workers.core.intake import IncidentRecord, admit
from workers.runtime import Runtime, guarded, utc_now

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
            log.info("duplicate incident dropped", incident_id=incident.incident_id)
            return
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

    channel = app.topic(
        catalogue.incidents.name,
        catalogue.routed_from(catalogue.incidents).name,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(channel, name="incident-intake")  # type: ignore[untyped-decorator]
    async def incident_intake(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await guarded(runtime, event, admit_incident)

"""Police systems report incidents and publish group profiles; both go onto the input topics."""

from fastapi import APIRouter, Request

from events.codec import decode, decode_with, encode
from schemas.group import GroupProfile
from schemas.rejection import Refused
from workers.gateway.deps import GatewayParts, Police, body_of, log, refused
from workers.gateway.openapi import INCIDENT_EVENT, body
from workers.gateway.problems import PROBLEMS, Accepted

router = APIRouter(prefix="/api/v1", tags=["police"], responses=PROBLEMS)


@router.post(
    "/incidents", status_code=202, response_model=Accepted, openapi_extra=body("IncidentEvent")
)
async def post_incident(request: Request, who: Police, gateway: GatewayParts) -> Accepted:
    """Report, correct or retract an incident: validated as on `gvi.incidents`, then
    produced there, keyed by its id."""
    try:
        incident = decode_with(INCIDENT_EVENT, await body_of(request, gateway))
    except Refused as error:
        raise refused(error) from None
    topic = gateway.catalogue.incidents.name
    await gateway.send(topic, incident.incident_id, encode(incident))
    log.info("incident accepted over HTTP", incident_id=incident.incident_id, caller=who.token_id)
    return Accepted(
        id=incident.incident_id,
        topic=topic,
        link=f"/api/v1/incidents/{incident.incident_id}",
        note="the worker plans the incident's tasks; rejections go to gvi.rejected",
    )


@router.post(
    "/groups", status_code=202, response_model=Accepted, openapi_extra=body("GroupProfile")
)
async def post_group(request: Request, who: Police, gateway: GatewayParts) -> Accepted:
    """Publish a group's profile: validated as on `gvi.groups`, then produced there."""
    try:
        profile = decode(GroupProfile, await body_of(request, gateway))
    except Refused as error:
        raise refused(error) from None
    topic = gateway.catalogue.groups.name
    await gateway.send(topic, profile.group_id, encode(profile))
    log.info("group profile accepted over HTTP", group_id=profile.group_id, caller=who.token_id)
    return Accepted(id=profile.group_id, topic=topic, note="the worker registers the group")

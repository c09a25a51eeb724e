"""Supervisors read an incident's completion and the escalations, within their scope."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from schemas.audit import DisclosureChannel
from schemas.completion import CompletionSnapshot
from schemas.escalation import Escalation
from workers.gateway.cursors import BadCursor, Cursor
from workers.gateway.deps import GatewayParts, Supervisor, valid
from workers.gateway.disclosure import SNAPSHOT_LINE_FIELDS, Shown, supervisor_read
from workers.gateway.problems import PROBLEMS, EscalationPage, ProblemAnswer

router = APIRouter(prefix="/api/v1", tags=["supervisors"], responses=PROBLEMS)


@router.get("/incidents/{incident_id}", response_model=CompletionSnapshot)
async def get_incident(
    incident_id: Annotated[str, Path(max_length=200)], who: Supervisor, gateway: GatewayParts
) -> CompletionSnapshot:
    """An incident's latest completion snapshot. A task whose record the gateway has not read
    yet is counted in `tasks_omitted` instead of listed, for a moment."""
    found = await gateway.model.incident(incident_id)
    if found is None or not who.sees(found.snapshot):
        raise ProblemAnswer(404, "Not Found", f"no incident {incident_id} is known")
    shown = [
        Shown(found.views[line["task_id"]], line, SNAPSHOT_LINE_FIELDS)
        for line in found.snapshot.get("tasks", ())
    ]
    await gateway.disclosures.shown(who, DisclosureChannel.DASHBOARD, shown)
    return CompletionSnapshot.model_validate(found.snapshot)


@router.get("/escalations", response_model=EscalationPage)
async def list_escalations(
    who: Supervisor,
    gateway: GatewayParts,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EscalationPage:
    """Escalations (overdue, declined, failed, delivery failed), per partition in the
    order they were written; `next_cursor` works on every replica."""
    partitions = gateway.catalogue.output_partitions
    try:
        position = Cursor.decode(cursor, partitions) if cursor else None
    except BadCursor:
        raise ProblemAnswer(400, "Bad Request", "the cursor is not one this API gave") from None
    page = await gateway.model.escalations(position, limit)
    items = [item for item in page.items if who.sees(item)]
    await supervisor_read(gateway.disclosures, who, items)
    return EscalationPage(
        escalations=valid(Escalation, items),
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )

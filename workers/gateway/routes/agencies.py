"""Partner agencies pull their own tasks and report status changes onto their own topic."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from events.codec import decode, encode
from schemas.audit import DisclosureChannel
from schemas.rejection import Refused
from schemas.task import RecipientTaskView, TaskStatus, TaskStatusChange
from workers.core.lifecycle import why_refused
from workers.gateway.credentials import Caller
from workers.gateway.cursors import BadCursor, Cursor
from workers.gateway.deps import Agency, Gateway, GatewayParts, body_of, log, refused, valid
from workers.gateway.disclosure import Shown
from workers.gateway.openapi import body
from workers.gateway.problems import PROBLEMS, Accepted, ProblemAnswer, TaskPage

router = APIRouter(prefix="/api/v1/tasks", tags=["agencies"], responses=PROBLEMS)


async def disclosed(gateway: Gateway, who: Caller, views: list[dict[str, Any]]) -> None:
    """Audit each task view shown to this caller for the first time in its present state
    (channel `pull`; a re-read after a change is a new disclosure), before it is shown."""
    shown = [Shown(view, view) for view in views]
    await gateway.disclosures.shown(who, DisclosureChannel.PULL, shown)


async def own_task(gateway: Gateway, who: Caller, task_id: uuid.UUID) -> dict[str, Any]:
    view = await gateway.model.task(str(task_id))
    if view is None or view["recipient"] != who.recipient:
        raise ProblemAnswer(404, "Not Found", f"you have no task {task_id}")
    return view


@router.get("", response_model=TaskPage)
async def list_tasks(
    who: Agency,
    gateway: GatewayParts,
    status: TaskStatus | None = None,
    since: Annotated[
        datetime | None, Query(description="only tasks created or changed since then")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TaskPage:
    """Your tasks, by task id. Poll with `next_cursor` to get only what was created or
    changed since (a status you reported shows once the worker applied it); the cursor is
    made of topic positions, so it works on every replica of the gateway."""
    assert who.recipient is not None
    if since is not None and since.utcoffset() is None:
        raise ProblemAnswer(
            422,
            "Unprocessable Content",
            "since needs a time zone (e.g. 2026-12-02T05:00:00+01:00 or ...Z)",
            "schema_violation",
            ("since",),
        )
    partitions = gateway.catalogue.output_partitions
    try:
        position = Cursor.decode(cursor, 2 * partitions) if cursor else None
    except BadCursor:
        raise ProblemAnswer(400, "Bad Request", "the cursor is not one this API gave") from None
    page = await gateway.model.tasks_of(
        who.recipient, status.value if status else None, since, position, limit
    )
    await disclosed(gateway, who, page.items)
    return TaskPage(
        tasks=valid(RecipientTaskView, page.items),
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{task_id}", response_model=RecipientTaskView, response_model_exclude_none=True)
async def get_task(task_id: uuid.UUID, who: Agency, gateway: GatewayParts) -> RecipientTaskView:
    """One of your tasks, as it stands now."""
    view = await own_task(gateway, who, task_id)
    await disclosed(gateway, who, [view])
    return RecipientTaskView.model_validate(view)


@router.post(
    "/{task_id}/status",
    status_code=202,
    response_model=Accepted,
    openapi_extra=body("TaskStatusChange"),
)
async def post_status(
    task_id: uuid.UUID, request: Request, who: Agency, gateway: GatewayParts
) -> Accepted:
    """Report a status change of one of your tasks. Checked early against the task as the
    gateway last read it (409 when the lifecycle refuses it), then produced to
    your own `gvi.task-updates.<recipient>`: the worker stays the authority and may still
    refuse it."""
    try:
        change = decode(TaskStatusChange, await body_of(request, gateway))
    except Refused as error:
        raise refused(error) from None
    if change.task_id != task_id:
        raise ProblemAnswer(
            422,
            "Unprocessable Content",
            "task_id in the body is not the one in the path",
            "key_mismatch",
            ("task_id",),
        )
    if change.recipient != who.recipient:
        raise ProblemAnswer(
            403,
            "Forbidden",
            f"you report as {who.recipient}, not {change.recipient}",
            "wrong_agency",
            ("recipient",),
        )
    view = await own_task(gateway, who, task_id)
    current = TaskStatus(view["status"])
    why = why_refused(current, change.status)
    if why is not None:
        raise ProblemAnswer(
            409,
            "Conflict",
            f"task {task_id}: {current.value} → {change.status.value} is not allowed: {why}",
            "invalid_transition",
        )
    topic = gateway.catalogue.task_updates[who.recipient].name
    await gateway.send(topic, str(task_id), encode(change))
    log.info("status update accepted over HTTP", task_id=str(task_id), status=change.status.value)
    return Accepted(
        id=str(task_id),
        topic=topic,
        link=f"/api/v1/tasks/{task_id}",
        note="the worker applies the update; the task shows it once applied",
    )

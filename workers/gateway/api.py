"""The HTTP API `/api/v1`: police post incidents and group profiles, agencies pull their tasks
and report status, supervisors read incidents and escalations. It reads only its own read
model and writes only to the public input topics (and `gvi.gateway-events`, whose audit
records and escalations the worker writes on)."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from events.catalogue import Catalogue
from events.codec import decode, decode_with, encode
from schemas.audit import DisclosureChannel
from schemas.completion import CompletionSnapshot
from schemas.escalation import Escalation
from schemas.group import GroupProfile
from schemas.rejection import Refused
from schemas.task import RecipientTaskView, TaskStatus, TaskStatusChange
from workers.core.lifecycle import why_refused
from workers.gateway.credentials import Caller, CredentialsFile
from workers.gateway.disclosure import (
    SNAPSHOT_LINE_FIELDS,
    Disclosures,
    Send,
    Shown,
    supervisor_read,
)
from workers.gateway.openapi import INCIDENT_EVENT, body, document_of
from workers.gateway.problems import (
    PROBLEMS,
    Accepted,
    EscalationPage,
    Problem,
    ProblemAnswer,
    TaskPage,
    problem_response,
    too_large,
)
from workers.gateway.read_model import BadCursor, Cursor, ReadModel

log = structlog.get_logger("gvi.gateway")


@dataclass
class Gateway:
    """What the API works with."""

    catalogue: Catalogue
    model: ReadModel
    credentials: CredentialsFile
    send: Send
    ready: Callable[[], bool]
    max_body_bytes: int
    disclosures: Disclosures
    broker_reachable: Callable[[], Awaitable[bool]]


Model = TypeVar("Model", bound=BaseModel)


def valid(model: type[Model], stored: list[dict[str, Any]]) -> list[Model]:
    """The stored items that hold to `model`; one that does not (kept by an older gateway
    that took any JSON object) is left out, so that no page of a route ever fails on it."""
    kept = []
    for item in stored:
        try:
            kept.append(model.model_validate(item))
        except ValidationError:
            log.error("a stored record is not valid; left out", model=model.__name__)
    return kept


def create_api(gateway: Gateway) -> FastAPI:
    """The FastAPI application of one gateway replica."""
    api = FastAPI(
        title="gvi-sanctions gateway",
        version="1",
        docs_url=None,  # Swagger UI would load its scripts from a CDN; the document suffices
        redoc_url=None,
        description=(
            "HTTP access to gvi-sanctions for police systems, partner agencies and GVI "
            "supervisors. Every call needs a bearer token; each role sees only what it needs."
        ),
    )
    # A redirect to the path with(out) its slash would be built from the Host header.
    api.router.redirect_slashes = False
    bearer = HTTPBearer(
        auto_error=False, scheme_name="bearer", description="a token from the operator"
    )

    @api.exception_handler(StarletteHTTPException)
    async def answer_http_error(request: Request, error: StarletteHTTPException) -> Response:
        """Starlette's own answers (an unknown route, a method a route does not take) as
        problem documents too."""
        try:
            title = HTTPStatus(error.status_code).phrase
        except ValueError:
            title = "Error"
        detail = error.detail if isinstance(error.detail, str) else title
        if error.status_code == 404:
            detail = "no such resource"
        problem = Problem(title=title, status=error.status_code, detail=detail[:500])
        return problem_response(problem, dict(error.headers or {}))

    @api.middleware("http")
    async def protective_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """No answer is sniffed as another type, and none is kept by a cache: every answer
        may hold a task, an incident or a login."""
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @api.exception_handler(RequestValidationError)
    async def answer_invalid_request(request: Request, error: RequestValidationError) -> Response:
        """A query or path parameter FastAPI refused: the same problem answer as a body."""
        fields = [
            ".".join(str(part) for part in e["loc"][1:]) or "(request)" for e in error.errors()
        ]
        detail = "; ".join(
            f"{field}: {e['msg']}" for field, e in zip(fields, error.errors(), strict=True)
        )
        problem = Problem(
            title="Unprocessable Content",
            status=422,
            detail=detail[:1500],
            code="schema_violation",
            fields=list(dict.fromkeys(fields)),
        )
        return problem_response(problem)

    @api.exception_handler(ProblemAnswer)
    async def answer_problem(request: Request, error: ProblemAnswer) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if error.problem.status == 401 else None
        return problem_response(error.problem, headers)

    def caller(
        presented: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        found = gateway.credentials.caller(presented.credentials) if presented else None
        if found is None:
            raise ProblemAnswer(401, "Unauthorized", "a valid bearer token is needed")
        return found

    def role(*allowed: str) -> Callable[[Caller], Caller]:
        def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
            if not any(
                who.role == a
                or (a == "agency" and who.recipient)
                or (a == "supervisor" and who.is_supervisor)
                for a in allowed
            ):
                raise ProblemAnswer(403, "Forbidden", f"the role {who.role} may not do this")
            return who

        return check

    Police = Annotated[Caller, Depends(role("police"))]
    Agency = Annotated[Caller, Depends(role("agency"))]
    Supervisor = Annotated[Caller, Depends(role("supervisor"))]

    async def body_of(request: Request) -> bytes:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ProblemAnswer(415, "Unsupported Media Type", "send the body as application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > gateway.max_body_bytes:
            raise too_large(gateway.max_body_bytes)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > gateway.max_body_bytes:
                raise too_large(gateway.max_body_bytes)
        return body

    def refused(error: Refused) -> ProblemAnswer:
        return ProblemAnswer(
            422, "Unprocessable Content", error.message, error.code.value, error.fields
        )

    @api.post(
        "/api/v1/incidents",
        status_code=202,
        response_model=Accepted,
        responses=PROBLEMS,
        openapi_extra=body("IncidentEvent"),
        tags=["police"],
    )
    async def post_incident(request: Request, who: Police) -> Accepted:
        """Report, correct or retract an incident: validated as on `gvi.incidents`, then
        produced there, keyed by its id."""
        try:
            incident = decode_with(INCIDENT_EVENT, await body_of(request))
        except Refused as error:
            raise refused(error) from None
        topic = gateway.catalogue.incidents.name
        await gateway.send(topic, incident.incident_id, encode(incident))
        log.info(
            "incident accepted over HTTP", incident_id=incident.incident_id, caller=who.token_id
        )
        return Accepted(
            id=incident.incident_id,
            topic=topic,
            link=f"/api/v1/incidents/{incident.incident_id}",
            note="the worker plans the incident's tasks; rejections go to gvi.rejected",
        )

    @api.post(
        "/api/v1/groups",
        status_code=202,
        response_model=Accepted,
        responses=PROBLEMS,
        openapi_extra=body("GroupProfile"),
        tags=["police"],
    )
    async def post_group(request: Request, who: Police) -> Accepted:
        """Publish a group's profile: validated as on `gvi.groups`, then produced there."""
        try:
            profile = decode(GroupProfile, await body_of(request))
        except Refused as error:
            raise refused(error) from None
        topic = gateway.catalogue.groups.name
        await gateway.send(topic, profile.group_id, encode(profile))
        log.info("group profile accepted over HTTP", group_id=profile.group_id, caller=who.token_id)
        return Accepted(id=profile.group_id, topic=topic, note="the worker registers the group")

    async def disclosed(who: Caller, views: list[dict[str, Any]]) -> None:
        """Audit each task view shown to this caller for the first time in its present state
        (channel `pull`; a re-read after a change is a new disclosure), before it is shown."""
        shown = [Shown(view, view) for view in views]
        await gateway.disclosures.shown(who, DisclosureChannel.PULL, shown)

    @api.get("/api/v1/tasks", response_model=TaskPage, responses=PROBLEMS, tags=["agencies"])
    async def list_tasks(
        who: Agency,
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
        partitions = gateway.catalogue.incidents.partitions
        try:
            position = Cursor.decode(cursor, 2 * partitions) if cursor else None
        except BadCursor:
            raise ProblemAnswer(400, "Bad Request", "the cursor is not one this API gave") from None
        page = await gateway.model.tasks_of(
            who.recipient, status.value if status else None, since, position, limit
        )
        await disclosed(who, page.items)
        return TaskPage(
            tasks=valid(RecipientTaskView, page.items),
            next_cursor=page.next_cursor,
            has_more=page.has_more,
        )

    async def own_task(who: Caller, task_id: uuid.UUID) -> dict[str, Any]:
        view = await gateway.model.task(str(task_id))
        if view is None or view["recipient"] != who.recipient:
            raise ProblemAnswer(404, "Not Found", f"you have no task {task_id}")
        return view

    @api.get(
        "/api/v1/tasks/{task_id}",
        response_model=RecipientTaskView,
        responses=PROBLEMS,
        response_model_exclude_none=True,
        tags=["agencies"],
    )
    async def get_task(task_id: uuid.UUID, who: Agency) -> RecipientTaskView:
        """One of your tasks, as it stands now."""
        view = await own_task(who, task_id)
        await disclosed(who, [view])
        return RecipientTaskView.model_validate(view)

    @api.post(
        "/api/v1/tasks/{task_id}/status",
        status_code=202,
        response_model=Accepted,
        responses=PROBLEMS,
        openapi_extra=body("TaskStatusChange"),
        tags=["agencies"],
    )
    async def post_status(task_id: uuid.UUID, request: Request, who: Agency) -> Accepted:
        """Report a status change of one of your tasks. Checked early against the task as the
        gateway last read it (409 when the lifecycle refuses it), then produced to
        your own `gvi.task-updates.<recipient>`: the worker stays the authority and may still
        refuse it."""
        try:
            change = decode(TaskStatusChange, await body_of(request))
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
        view = await own_task(who, task_id)
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
        log.info(
            "status update accepted over HTTP", task_id=str(task_id), status=change.status.value
        )
        return Accepted(
            id=str(task_id),
            topic=topic,
            link=f"/api/v1/tasks/{task_id}",
            note="the worker applies the update; the task shows it once applied",
        )

    @api.get(
        "/api/v1/incidents/{incident_id}",
        response_model=CompletionSnapshot,
        responses=PROBLEMS,
        tags=["supervisors"],
    )
    async def get_incident(
        incident_id: Annotated[str, Path(max_length=200)], who: Supervisor
    ) -> CompletionSnapshot:
        """An incident's latest completion snapshot."""
        snapshot = await gateway.model.incident(incident_id)
        if snapshot is None or not who.sees(snapshot):
            raise ProblemAnswer(404, "Not Found", f"no incident {incident_id} is known")
        views = await gateway.model.views_of_incident(incident_id)
        shown = [
            Shown(views[line["task_id"]], line, SNAPSHOT_LINE_FIELDS)
            for line in snapshot.get("tasks", ())
            if line.get("task_id") in views
        ]
        await gateway.disclosures.shown(who, DisclosureChannel.DASHBOARD, shown)
        return CompletionSnapshot.model_validate(snapshot)

    @api.get(
        "/api/v1/escalations",
        response_model=EscalationPage,
        responses=PROBLEMS,
        tags=["supervisors"],
    )
    async def list_escalations(
        who: Supervisor,
        cursor: Annotated[str | None, Query(max_length=4096)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> EscalationPage:
        """Escalations (overdue, declined, failed, delivery failed), per partition in the
        order they were written; `next_cursor` works on every replica."""
        partitions = gateway.catalogue.incidents.partitions
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

    @api.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "up"}

    @api.get("/readyz", tags=["operations"], responses={503: {"model": Problem}})
    async def readyz() -> Response:
        """Ready once the read model has caught up with the topics (once after start) and
        while the broker answers."""
        if not gateway.ready():
            why = "the read model is catching up with the topics"
        elif not await gateway.broker_reachable():
            why = "the broker does not answer"
        else:
            return JSONResponse({"status": "ready"})
        return problem_response(Problem(title="Service Unavailable", status=503, detail=why))

    api.openapi = lambda: document_of(api)  # type: ignore[method-assign]
    return api

"""The supervisors' dashboard: login and logout, the pages, their JSON and live updates. Each
task shown (a snapshot line, an escalation, a detail) is audited for the supervisor first."""

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from sse_starlette import EventSourceResponse

from schemas.audit import DisclosureChannel
from workers.gateway.dashboard import (
    MAX_LOGIN_BYTES,
    OPEN,
    PAGE_HEADERS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    STATIC,
    dashboard_numbers,
    loopback,
    same_origin,
)
from workers.gateway.deps import GatewayParts, SessionSupervisor, session_supervisor
from workers.gateway.disclosure import SUPERVISOR_DETAIL_FIELDS as DETAIL_FIELDS
from workers.gateway.disclosure import Shown, supervisor_event, supervisor_read
from workers.gateway.live import live_updates
from workers.gateway.read_model import lines_of, only_held

router = APIRouter(include_in_schema=False)


def page(name: str, who: SessionSupervisor) -> Response:
    if who is None:
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / name, headers=PAGE_HEADERS)


def refused() -> Response:
    return JSONResponse({"detail": "log in as a supervisor first"}, status_code=401)


@router.get("/login")
async def login_form() -> Response:
    return FileResponse(STATIC / "login.html", headers=PAGE_HEADERS)


@router.post("/login")
async def log_in(request: Request, gateway: GatewayParts) -> Response:
    if not same_origin(request):
        return JSONResponse({"detail": "a login from another site"}, status_code=403)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BYTES:  # stop reading: a login form is a few hundred bytes
            return JSONResponse({"detail": "the login form is too large"}, status_code=413)
    form = parse_qs(body.decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    who = gateway.credentials.caller(token) if token else None
    if who is None or not who.is_supervisor:
        return RedirectResponse("/login?failed=1", status_code=303)
    answer = RedirectResponse("/", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        gateway.sessions.open(who),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or not loopback(request),
    )
    return answer


@router.post("/logout")
async def log_out(request: Request, gateway: GatewayParts) -> Response:
    if not same_origin(request):
        return JSONResponse({"detail": "a logout from another site"}, status_code=403)
    gateway.sessions.close(request.cookies.get(SESSION_COOKIE))
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE)
    return answer


@router.get("/")
async def dashboard(who: SessionSupervisor) -> Response:
    return page("dashboard.html", who)


@router.get("/incidents/{incident_id}")
async def incident_page(incident_id: str, who: SessionSupervisor) -> Response:
    return page("incident.html", who)


@router.get("/dashboard/overview")
async def overview(who: SessionSupervisor, gateway: GatewayParts) -> Response:
    """Every incident's snapshot, the latest escalations and the numbers per partnership; a
    task line or escalation is shown once its task can be audited (its view is read)."""
    if who is None:
        return refused()
    incidents = [i for i in await gateway.model.overview() if who.sees(i)]
    escalations = [e for e in await gateway.model.all_escalations() if who.sees(e)]
    numbers = dashboard_numbers(incidents)  # counts over every task, none of them shown
    held = await supervisor_read(gateway.disclosures, who, [*lines_of(incidents), *escalations])
    incidents = [only_held(incident, held) for incident in incidents]
    escalations = [e for e in escalations if str(e.get("task_id")) in held]
    return JSONResponse(
        {"scope": who.partnership, "incidents": incidents, "escalations": escalations} | numbers
    )


@router.get("/dashboard/incidents/{incident_id}")
async def incident_detail(
    incident_id: str, who: SessionSupervisor, gateway: GatewayParts
) -> Response:
    """The incident page's JSON: the snapshot, and of each task only its rule and reason
    (the page shows nothing else of a recipient's view); `waiting`: the snapshot's tasks not
    listed yet because their records are not read yet (the page asks again)."""
    if who is None:
        return refused()
    found = await gateway.model.incident(incident_id)
    if found is None or not who.sees(found.snapshot):
        return JSONResponse({"detail": "no such incident"}, status_code=404)
    snapshot, views = found.snapshot, found.views
    lines = {line["task_id"]: line for line in snapshot.get("tasks", ())}
    shown = {
        task_id: {"rule_id": view.get("rule_id"), "reason": view.get("reason")}
        for task_id, view in views.items()
    }
    await gateway.disclosures.shown(
        who,
        DisclosureChannel.DASHBOARD,
        [
            Shown(views[task_id], {**lines.get(task_id, {}), **detail}, DETAIL_FIELDS)
            for task_id, detail in shown.items()
        ],
    )
    return JSONResponse(
        {
            "snapshot": snapshot,
            "views": shown,
            "waiting": found.waiting,
            "open_statuses": sorted(OPEN),
        }
    )


@router.get("/dashboard/events")
async def events(request: Request, who: SessionSupervisor, gateway: GatewayParts) -> Response:
    if who is None:
        return refused()

    async def audited(kind: str, value: dict[str, Any]) -> dict[str, Any] | None:
        now = session_supervisor(request, gateway)
        if now is None or not now.sees(value):
            return None
        return await supervisor_event(gateway.disclosures, now, kind, value)

    return EventSourceResponse(
        live_updates(
            gateway.model, lambda: session_supervisor(request, gateway) is not None, audited
        ),
        ping=15,
        send_timeout=30,
    )

"""The supervisors' dashboard: a login form that keeps a session in a cookie, the incident list
and detail pages (HTML, CSS and JavaScript shipped in the package, nothing fetched from the
network), their JSON, and live updates from the read model by Server-Sent Events."""

import asyncio
import functools
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sse_starlette import EventSourceResponse, ServerSentEvent

from schemas.audit import DisclosureChannel
from schemas.task import OPEN_STATUSES
from workers.gateway.credentials import Caller, CredentialsFile
from workers.gateway.disclosure import SUPERVISOR_DETAIL_FIELDS as DETAIL_FIELDS
from workers.gateway.disclosure import Disclosures, Shown, lines_of, supervisor_read
from workers.gateway.read_model import ReadModel

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "gvi_session"
SESSION_SECONDS = 8 * 3600
MAX_LOGIN_BYTES = 4096


class Sessions:
    """Dashboard sessions as signed, expiring cookies (itsdangerous): the cookie names the
    caller's token id and role, never the token, and is valid on every replica that holds the
    same key, across restarts. A logout ends the session on the replica that took it at once
    and, by removing the cookie, in the browser; revoking the token ends it everywhere."""

    def __init__(self, key: Callable[[], str]) -> None:
        self.key = key
        self.closed: dict[str, float] = {}

    @functools.cached_property
    def signer(self) -> URLSafeTimedSerializer:
        """Made at the first login or session check (the key may be a file made then)."""
        return URLSafeTimedSerializer(self.key(), salt="gvi-dashboard-session")

    def open(self, caller: Caller) -> str:
        nonce = secrets.token_urlsafe(12)
        return self.signer.dumps({"t": caller.token_id, "r": caller.role, "n": nonce})

    def caller(self, session: str | None) -> Caller | None:
        if not session or session in self.closed:
            return None
        try:
            fields = self.signer.loads(session, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(fields, dict):
            return None
        token_id, role = fields.get("t"), fields.get("r")
        if not isinstance(token_id, str) or not isinstance(role, str):
            return None
        return Caller(token_id, role)

    def close(self, session: str | None) -> None:
        now = time.monotonic()
        self.closed = {k: until for k, until in self.closed.items() if until > now}
        if session:
            self.closed[session] = now + SESSION_SECONDS


def session_key(configured: str | None, beside: Path) -> str:
    """The key that signs sessions: the configured one, else one kept in a file of its own
    (owner-only) beside the read model, made on first use, so a restart keeps logins."""
    if configured:
        return configured
    path = beside / "dashboard-session.key"
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key)
        return key


def add_dashboard(
    api: FastAPI,
    credentials: CredentialsFile,
    model: Callable[[], ReadModel],
    disclosures: Disclosures,
    session_key: Callable[[], str],
) -> None:
    """Serve the dashboard at `/` for callers with the supervisor role (`model` gives the read
    model, which the gateway opens in its lifespan; `session_key` signs its sessions)."""
    sessions = Sessions(session_key)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")

    def supervisor(request: Request) -> Caller | None:
        """The session's supervisor, while the session is open and its token still valid (a
        revoked or expired token ends every session it opened)."""
        caller = sessions.caller(request.cookies.get(SESSION_COOKIE))
        if caller is None or not caller.is_supervisor or not credentials.still_valid(caller):
            return None
        return caller

    def page(name: str, request: Request) -> Response:
        if supervisor(request) is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / name, headers=PAGE_HEADERS)

    def refused() -> Response:
        return JSONResponse({"detail": "log in as a supervisor first"}, status_code=401)

    @api.get("/login", include_in_schema=False)
    async def login_form() -> Response:
        return FileResponse(STATIC / "login.html", headers=PAGE_HEADERS)

    @api.post("/login", include_in_schema=False)
    async def log_in(request: Request) -> Response:
        if not same_origin(request):
            return JSONResponse({"detail": "a login from another site"}, status_code=403)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_LOGIN_BYTES:  # stop reading: a login form is a few hundred bytes
                return JSONResponse({"detail": "the login form is too large"}, status_code=413)
        form = parse_qs(body.decode("utf-8", errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        caller = credentials.caller(token) if token else None
        if caller is None or not caller.is_supervisor:
            return RedirectResponse("/login?failed=1", status_code=303)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(
            SESSION_COOKIE,
            sessions.open(caller),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or not loopback(request),
        )
        return answer

    @api.post("/logout", include_in_schema=False)
    async def log_out(request: Request) -> Response:
        if not same_origin(request):
            return JSONResponse({"detail": "a logout from another site"}, status_code=403)
        sessions.close(request.cookies.get(SESSION_COOKIE))
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(SESSION_COOKIE)
        return answer

    @api.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        return page("dashboard.html", request)

    @api.get("/incidents/{incident_id}", include_in_schema=False)
    async def incident_page(request: Request, incident_id: str) -> Response:
        return page("incident.html", request)

    @api.get("/dashboard/overview", include_in_schema=False)
    async def overview(request: Request) -> Response:
        """Every incident's snapshot and the latest escalations; each task shown (a snapshot
        line, an escalation) is audited for this supervisor."""
        who = supervisor(request)
        if who is None:
            return refused()
        incidents = [i for i in await model().overview() if who.sees(i)]
        escalations = [e for e in await model().all_escalations() if who.sees(e)]
        await supervisor_read(disclosures, who, [*lines_of(incidents), *escalations])
        return JSONResponse(
            {
                "scope": who.partnership,
                "incidents": incidents,
                "escalations": escalations,
                "partnerships": partnership_numbers(incidents),
            }
        )

    @api.get("/dashboard/incidents/{incident_id}", include_in_schema=False)
    async def incident_detail(request: Request, incident_id: str) -> Response:
        """The incident page's JSON: the snapshot, and of each task only its rule and reason
        (the page shows nothing else of a recipient's view). Each task shown is audited."""
        who = supervisor(request)
        if who is None:
            return refused()
        snapshot = await model().incident(incident_id)
        if snapshot is None or not who.sees(snapshot):
            return JSONResponse({"detail": "no such incident"}, status_code=404)
        views = await model().views_of_incident(incident_id)
        lines = {line["task_id"]: line for line in snapshot.get("tasks", ())}
        shown = {
            task_id: {"rule_id": view.get("rule_id"), "reason": view.get("reason")}
            for task_id, view in views.items()
        }
        await disclosures.shown(
            who,
            DisclosureChannel.DASHBOARD,
            [
                Shown(views[task_id], {**lines.get(task_id, {}), **detail}, DETAIL_FIELDS)
                for task_id, detail in shown.items()
            ],
        )
        return JSONResponse({"snapshot": snapshot, "views": shown})

    @api.get("/dashboard/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        if supervisor(request) is None:
            return refused()

        async def audited(kind: str, value: dict[str, Any]) -> bool:
            who = supervisor(request)
            if who is None or not who.sees(value):
                return False
            items = lines_of([value]) if kind == "incident" else [value]
            await supervisor_read(disclosures, who, items)
            return True

        return EventSourceResponse(
            live_updates(model(), lambda: supervisor(request) is not None, audited),
            ping=15,
            send_timeout=30,
        )


def partnership_numbers(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per partnership, its incidents and tasks, and its on-time share as the agencies' table
    counts it: tasks completed before their deadline, out of those completed or open past it."""
    totals: dict[str, dict[str, int]] = {}
    for snapshot in incidents:
        key = snapshot.get("partnership") or "(none)"
        counts = totals.setdefault(
            key,
            {"incidents": 0, "tasks": 0, "open": 0, "completed": 0, "overdue": 0, "on_time": 0},
        )
        counts["incidents"] += 1
        counts["tasks"] += int(snapshot.get("tasks_total", 0))
        counts["open"] += int(snapshot.get("tasks_open", 0))
        counts["completed"] += int(snapshot.get("tasks_completed", 0))
        for line in snapshot.get("tasks", ()):
            is_open = line.get("status") in OPEN
            counts["overdue"] += bool(line.get("overdue") and is_open)
            counts["on_time"] += bool(line.get("status") == "completed" and not line.get("overdue"))
    numbers = []
    for key, counts in sorted(totals.items()):
        finished_or_late = counts["completed"] + counts["overdue"]
        share = round(100.0 * counts["on_time"] / finished_or_late, 1) if finished_or_late else None
        numbers.append({"partnership": key, **counts, "on_time_percent": share})
    return numbers


OPEN = frozenset(status.value for status in OPEN_STATUSES)


def loopback(request: Request) -> bool:
    """Whether the page was asked for at a loopback address (a developer's browser): only
    there may the session cookie travel without TLS."""
    return (request.url.hostname or "") in {"127.0.0.1", "localhost", "::1"}


def same_origin(request: Request) -> bool:
    """A form post from this gateway's own pages: browsers send `Origin` with every POST; a
    client without a browser sends none and is not a cross-site request."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.rstrip("/") == own


async def live_updates(
    model: ReadModel,
    allowed: Callable[[], bool],
    audited: Callable[[str, dict[str, Any]], Awaitable[bool]],
    recheck_seconds: float = 1.0,
) -> AsyncIterator[ServerSentEvent]:
    """Each completion snapshot and escalation the read model folds in, as it does, while
    `allowed()` holds: a logout or a revoked token ends the stream within `recheck_seconds`.
    What each event shows of its tasks is audited before it is sent; an event that
    `audited` refuses (another partnership's) is not sent."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    model.listeners.add(queue)
    try:
        yield ServerSentEvent(event="ready", data="{}")
        while allowed():
            try:
                async with asyncio.timeout(recheck_seconds):
                    kind, value = await queue.get()
            except TimeoutError:
                continue
            if not allowed():
                break
            if await audited(kind, value):
                yield ServerSentEvent(event=kind, data=json.dumps(value))
    finally:
        model.listeners.discard(queue)


PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the
    # login form's POST, which the origin check must refuse
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

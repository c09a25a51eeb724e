"""The supervisors' dashboard: a login form that keeps a session in a cookie, the incident list
and detail pages (HTML, CSS and JavaScript shipped in the package, nothing fetched from the
network) and their JSON; their live stream is `live.py`."""

import functools
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from schemas.task import OPEN_STATUSES
from workers.gateway.credentials import Caller

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


def dashboard_numbers(incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """What the overview shows beside the incidents, counted here so that the page derives
    nothing: the open statuses, and per partnership and per recipient the open, completed and
    overdue tasks and the on-time share as the agencies' table counts it (tasks completed
    before their deadline, out of those completed or open past it)."""
    return {
        "open_statuses": sorted(OPEN),
        "partnerships": partnership_numbers(incidents),
        "recipients": recipient_numbers(incidents),
    }


def partnership_numbers(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per partnership, its incidents and tasks, and its on-time share."""
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
            _count_lateness(counts, line)
    return [{"partnership": key, **_with_share(counts)} for key, counts in sorted(totals.items())]


def recipient_numbers(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per recipient, its open, completed and overdue tasks, and its on-time share."""
    totals: dict[str, dict[str, int]] = {}
    for snapshot in incidents:
        for line in snapshot.get("tasks", ()):
            counts = totals.setdefault(
                str(line.get("recipient")), {"open": 0, "completed": 0, "overdue": 0, "on_time": 0}
            )
            counts["open"] += line.get("status") in OPEN
            counts["completed"] += line.get("status") == "completed"
            _count_lateness(counts, line)
    return [{"recipient": key, **_with_share(counts)} for key, counts in sorted(totals.items())]


def _count_lateness(counts: dict[str, int], line: dict[str, Any]) -> None:
    counts["overdue"] += bool(line.get("overdue") and line.get("status") in OPEN)
    counts["on_time"] += bool(line.get("status") == "completed" and not line.get("overdue"))


def _with_share(counts: dict[str, int]) -> dict[str, Any]:
    finished_or_late = counts["completed"] + counts["overdue"]
    share = round(100.0 * counts["on_time"] / finished_or_late, 1) if finished_or_late else None
    return {**counts, "on_time_percent": share}


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

"""What the gateway's routes depend on: the gateway's parts (on `app.state`), the caller by
bearer token or dashboard session, role checks, and the request body within its limit."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from events.catalogue import Catalogue
from schemas.rejection import Refused
from workers.gateway.credentials import Caller, CredentialsFile
from workers.gateway.dashboard import SESSION_COOKIE, Sessions
from workers.gateway.disclosure import Disclosures, Send
from workers.gateway.problems import ProblemAnswer, too_large
from workers.gateway.read_model import ReadModel

log = structlog.get_logger("gvi.gateway")


@dataclass(frozen=True)
class Gateway:
    """The parts the routes work with, made once the read model and the producer are open."""

    catalogue: Catalogue
    model: ReadModel
    credentials: CredentialsFile
    send: Send
    ready: Callable[[], bool]
    max_body_bytes: int
    disclosures: Disclosures
    broker_reachable: Callable[[], Awaitable[bool]]
    sessions: Sessions


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayParts = Annotated[Gateway, Depends(gateway_of)]

bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="a token from the operator")


def caller(
    gateway: GatewayParts,
    presented: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller whose bearer token this is; 401 without a valid one."""
    found = gateway.credentials.caller(presented.credentials) if presented else None
    if found is None:
        raise ProblemAnswer(401, "Unauthorized", "a valid bearer token is needed")
    return found


def role(*allowed: str) -> Callable[[Caller], Caller]:
    """A dependency that lets through callers of one of the `allowed` roles; 403 otherwise."""

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


def session_supervisor(request: Request, gateway: GatewayParts) -> Caller | None:
    """The dashboard session's supervisor, while the session is open and its token still
    valid (a revoked or expired token ends every session it opened)."""
    who = gateway.sessions.caller(request.cookies.get(SESSION_COOKIE))
    if who is None or not who.is_supervisor or not gateway.credentials.still_valid(who):
        return None
    return who


SessionSupervisor = Annotated[Caller | None, Depends(session_supervisor)]


async def body_of(request: Request, gateway: Gateway) -> bytes:
    """The JSON body, read no further than the gateway's limit (415 for another type)."""
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
    """A body that does not hold to its contract, as a 422 naming the fields."""
    return ProblemAnswer(
        422, "Unprocessable Content", error.message, error.code.value, error.fields
    )


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

"""Probes for the operator's supervisor: the process is up; the replica is ready to serve."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from workers.gateway.deps import GatewayParts
from workers.gateway.problems import Problem, problem_response

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "up"}


@router.get("/readyz", responses={503: {"model": Problem}})
async def readyz(gateway: GatewayParts) -> Response:
    """Ready once the read model has caught up with the topics (once after start) and
    while the broker answers."""
    if not gateway.ready():
        why = "the read model is catching up with the topics"
    elif not await gateway.broker_reachable():
        why = "the broker does not answer"
    else:
        return JSONResponse({"status": "ready"})
    return problem_response(Problem(title="Service Unavailable", status=503, detail=why))

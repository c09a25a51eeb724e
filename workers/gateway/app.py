"""The gateway's FastAPI application: problem documents for every error, protective headers,
the routers, the dashboard's static files and the OpenAPI document. It reads only its own read
model and writes only to the public input topics (and `gvi.gateway-events`, whose audit records
and escalations the worker writes on)."""

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from workers.gateway.dashboard import STATIC
from workers.gateway.deps import Gateway
from workers.gateway.openapi import document_of
from workers.gateway.problems import Problem, ProblemAnswer, problem_response
from workers.gateway.routes import agencies, dashboard, operations, police, supervisors

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_api(gateway: Gateway | None = None, lifespan: Lifespan | None = None) -> FastAPI:
    """The FastAPI application of one gateway replica. Its routes take the gateway's parts
    from `app.state.gateway`: given here (in process), or set by `lifespan` once it opened the
    read model and the producer."""
    api = FastAPI(
        title="gvi-sanctions gateway",
        version="1",
        docs_url=None,  # Swagger UI would load its scripts from a CDN; the document suffices
        redoc_url=None,
        description=(
            "HTTP access to gvi-sanctions for police systems, partner agencies and GVI "
            "supervisors. Every call needs a bearer token; each role sees only what it needs."
        ),
        lifespan=lifespan,
        redirect_slashes=False,  # a redirect would be built from the Host header
    )
    if gateway is not None:
        api.state.gateway = gateway
    api.add_exception_handler(StarletteHTTPException, answer_http_error)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, answer_invalid_request)  # type: ignore[arg-type]
    api.add_exception_handler(ProblemAnswer, answer_problem)  # type: ignore[arg-type]
    api.middleware("http")(protective_headers)
    for routes in (police, agencies, supervisors, operations, dashboard):
        api.include_router(routes.router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    api.openapi = lambda: document_of(api)  # type: ignore[method-assign]
    return api


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


async def answer_invalid_request(request: Request, error: RequestValidationError) -> Response:
    """A query or path parameter FastAPI refused: the same problem answer as a body."""
    fields = [".".join(str(part) for part in e["loc"][1:]) or "(request)" for e in error.errors()]
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


async def answer_problem(request: Request, error: ProblemAnswer) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if error.problem.status == 401 else None
    return problem_response(error.problem, headers)


async def protective_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """No answer is sniffed as another type, and none is kept by a cache: every answer may
    hold a task, an incident or a login."""
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    if request.url.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response

"""The gateway's answers: the problem document (RFC 9457), and the pages and receipts it
returns."""

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from schemas.escalation import Escalation
from schemas.task import RecipientTaskView


class Problem(BaseModel):
    """An error answer (RFC 9457): what went wrong, and each offending field."""

    model_config = ConfigDict(extra="forbid")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str | None = None
    fields: list[str] = []


class Accepted(BaseModel):
    """The broker has the message; the worker decides what it leads to."""

    id: str
    topic: str
    status: str = "accepted"
    link: str | None = None
    note: str


class TaskPage(BaseModel):
    """Some of an agency's tasks (their latest views), oldest change first."""

    tasks: list[RecipientTaskView]
    next_cursor: str | None = Field(
        description="pass it back to get the tasks created or changed after these, now or "
        "later (null only before any task exists)"
    )
    has_more: bool = Field(description="more tasks follow already; ask again at once")

    @field_serializer("tasks")
    def _only_set_fields(self, tasks: list[RecipientTaskView]) -> list[dict[str, Any]]:
        """A field the recipient may not see is left out, not sent as null."""
        return [task.model_dump(mode="json", exclude_none=True) for task in tasks]


class EscalationPage(BaseModel):
    """Escalations in the order they were read."""

    escalations: list[Escalation]
    next_cursor: str | None = Field(description="pass it back to get the escalations after these")
    has_more: bool


class ProblemAnswer(Exception):
    """Ends a request with a problem answer."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        code: str | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(detail)
        self.problem = Problem(
            title=title, status=status, detail=detail, code=code, fields=list(fields)
        )


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}


def too_large(limit: int) -> ProblemAnswer:
    return ProblemAnswer(413, "Content Too Large", f"the body may hold at most {limit:,} bytes")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem as an `application/problem+json` answer with its status."""
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type="application/problem+json",
        headers=headers,
    )

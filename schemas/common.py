"""Shared building blocks of the wire contracts: the base model and constrained field types."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

SCHEMA_VERSION: Literal[1] = 1

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
RECIPIENT_PATTERN = r"^[a-z0-9][a-z0-9\-]*$"

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)
]
"""An opaque id: incident, group, source system, agency; no spaces, at most 128 characters."""

PersonRef = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)
]
"""A pseudonymous person reference; never a name or a personal identity number."""

RecipientId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=RECIPIENT_PATTERN)
]
"""A recipient of tasks as the policy names it, e.g. `skatteverket`."""

FlagName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Narrative = Annotated[str, StringConstraints(max_length=20000)]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _within_bounds(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError(
            f"must lie in the years 2000 to 2099 (with a time zone), not {moment.isoformat()}"
        )
    return moment


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_within_bounds),
    Field(description="RFC 3339 date-time with a time zone, in the years 2000 to 2099"),
]
"""A moment with its time zone. Bounded so that every deadline computed from it stays a date."""


class Contract(BaseModel):
    """Base of every wire contract: immutable, unknown fields rejected, versioned."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        str_strip_whitespace=False,
        use_enum_values=False,
        validate_default=True,
    )

    schema_version: Literal[1] = SCHEMA_VERSION


def describe_validation_error(error: ValidationError, limit: int = 1500) -> str:
    """A one-line account of a validation error that names every offending field."""
    parts = [f"{field}: {message}" for field, message in offending_fields(error)]
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def offending_fields(error: ValidationError) -> list[tuple[str, str]]:
    """Each offending field of a validation error (a dotted path) with what is wrong with it."""
    found = []
    for detail in error.errors(include_url=False):
        location = [str(part) for part in detail["loc"]]
        if location and location[0] in _UNION_TAGS:
            location = location[1:]
        field = ".".join(location) or detail.get("ctx", {}).get("discriminator", "").strip("'")
        found.append((field or "(document)", detail["msg"]))
    return found


_UNION_TAGS = frozenset({"reported", "corrected", "retracted"})

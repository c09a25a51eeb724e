"""Incident contracts published by police systems: reported, corrected and retracted."""

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, model_validator

from schemas.common import (
    Contract,
    Identifier,
    Narrative,
    PersonRef,
    ShortText,
    Text,
    Timestamp,
    WireEnum,
)


class IncidentType(WireEnum):
    """The kinds of violence that the policy can respond to."""

    SHOOTING = "shooting"
    EXPLOSION = "explosion"
    HOMICIDE = "homicide"
    ATTEMPTED_HOMICIDE = "attempted_homicide"
    AGGRAVATED_ASSAULT = "aggravated_assault"
    ARSON = "arson"
    THREAT = "threat"


class Outcome(WireEnum):
    """The worst harm the incident caused."""

    NONE = "none"
    INJURED = "injured"
    KILLED = "killed"


class Attribution(Contract):
    """The police's attribution of an incident to a criminal group."""

    group_id: Identifier
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    attributed_by: Identifier
    basis: Text


class IncidentFacts(Contract):
    """The facts shared by a reported and a corrected incident."""

    incident_id: Identifier
    version: int = Field(ge=1, le=1_000_000)
    occurred_at: Timestamp
    reported_at: Timestamp
    municipality: ShortText
    police_area: ShortText
    incident_type: IncidentType
    outcome: Outcome
    attributions: tuple[Attribution, ...] = Field(default=(), max_length=10)
    focus_person_refs: tuple[PersonRef, ...] = Field(default=(), max_length=50)
    source_system: Identifier
    narrative: Narrative = ""

    @model_validator(mode="after")
    def _check_consistency(self) -> "IncidentFacts":
        if self.reported_at < self.occurred_at:
            raise ValueError("reported_at is before occurred_at")
        group_ids = [attribution.group_id for attribution in self.attributions]
        if len(group_ids) != len(set(group_ids)):
            raise ValueError("attributions name the same group more than once")
        return self


class IncidentReported(IncidentFacts):
    """A violent incident as first reported."""

    kind: Literal["reported"] = "reported"


class IncidentCorrected(IncidentFacts):
    """A correction of an incident; it replaces every earlier version and carries a higher one."""

    kind: Literal["corrected"] = "corrected"
    version: int = Field(ge=2, le=1_000_000)


class IncidentRetracted(Contract):
    """The withdrawal of an incident: its open tasks are cancelled."""

    kind: Literal["retracted"] = "retracted"
    incident_id: Identifier
    version: int = Field(ge=2, le=1_000_000)
    retracted_at: Timestamp
    reason: Text
    source_system: Identifier


IncidentEvent = Annotated[
    IncidentReported | IncidentCorrected | IncidentRetracted, Field(discriminator="kind")
]

_incident_event_adapter: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)


def parse_incident_event(
    raw: bytes | str,
) -> IncidentReported | IncidentCorrected | IncidentRetracted:
    """Decode one incident event from JSON; raises pydantic.ValidationError on bad input."""
    return _incident_event_adapter.validate_json(raw, strict=True)

"""Every contract rejects bad input with an error that names the field."""

import json
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from schemas import (
    GroupProfile,
    IncidentCorrected,
    IncidentReported,
    IncidentRetracted,
    Rejection,
    RejectionCode,
    SanctionTask,
    TaskStatus,
    TaskStatusChange,
    parse_incident_event,
)
from schemas.common import describe_validation_error
from tests.support.builders import T0, group, incident, incident_fields


def _error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in detail["loc"]) for detail in error.errors()}


def _reject(model: type[BaseModel], payload: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    return caught.value


def _incident_payload(**overrides: Any) -> dict[str, Any]:
    payload = json.loads(incident().model_dump_json())
    payload.update(overrides)
    return payload


def test_incident_round_trips_through_json() -> None:
    original = incident()
    assert parse_incident_event(original.model_dump_json()) == original


def test_incident_event_is_chosen_by_kind() -> None:
    retraction = IncidentRetracted(
        incident_id="INC-TEST-1",
        version=2,
        retracted_at=T0,
        reason="attribution withdrawn",
        source_system="test-feed",
    )
    assert isinstance(parse_incident_event(retraction.model_dump_json()), IncidentRetracted)
    corrected = _incident_payload(kind="corrected", version=2)
    assert isinstance(parse_incident_event(json.dumps(corrected)), IncidentCorrected)


def test_unknown_field_is_rejected_by_name() -> None:
    error = _reject(IncidentReported, _incident_payload(suspect_name="not allowed"))
    assert "suspect_name" in _error_fields(error)
    assert error.errors()[0]["type"] == "extra_forbidden"


def test_naive_datetime_is_rejected() -> None:
    error = _reject(IncidentReported, _incident_payload(occurred_at="2026-11-20T21:00:00"))
    assert "occurred_at" in _error_fields(error)


@pytest.mark.parametrize("field", ["incident_id", "source_system", "municipality"])
def test_empty_strings_are_rejected(field: str) -> None:
    error = _reject(IncidentReported, _incident_payload(**{field: ""}))
    assert field in _error_fields(error)


def test_id_with_spaces_is_rejected() -> None:
    error = _reject(IncidentReported, _incident_payload(incident_id="INC 1"))
    assert "incident_id" in _error_fields(error)


@pytest.mark.parametrize("confidence", [-0.01, 1.01, "NaN"])
def test_out_of_range_confidence_is_rejected(confidence: object) -> None:
    payload = _incident_payload()
    payload["attributions"][0]["confidence"] = confidence
    error = _reject(IncidentReported, payload)
    assert "attributions.0.confidence" in _error_fields(error)


@pytest.mark.parametrize(
    ("field", "value"), [("incident_type", "riot"), ("outcome", "dead"), ("kind", "amended")]
)
def test_unknown_enum_values_are_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_incident_event(json.dumps(_incident_payload(**{field: value})))
    assert describe_validation_error(caught.value).startswith(f"{field}: ")


def test_description_names_every_field_without_the_union_tag() -> None:
    payload = _incident_payload(incident_id="", outcome="dead")
    with pytest.raises(ValidationError) as caught:
        parse_incident_event(json.dumps(payload))
    description = describe_validation_error(caught.value)
    assert description.startswith("incident_id: String should have at least 1 character")
    assert "; outcome: Input should be 'none', 'injured' or 'killed'" in description


@pytest.mark.parametrize(
    ("field", "value"),
    [("municipality", "x" * 201), ("incident_id", "I" * 129), ("narrative", "n" * 20001)],
)
def test_oversized_strings_are_rejected(field: str, value: str) -> None:
    error = _reject(IncidentReported, _incident_payload(**{field: value}))
    assert field in _error_fields(error)


def test_wrong_types_are_rejected() -> None:
    error = _reject(IncidentReported, _incident_payload(version="first"))
    assert "version" in _error_fields(error)


def test_report_before_occurrence_is_rejected() -> None:
    with pytest.raises(ValidationError, match="reported_at is before occurred_at"):
        incident(reported_at=T0 - timedelta(minutes=1))


def test_correction_needs_a_higher_version() -> None:
    with pytest.raises(ValidationError) as caught:
        IncidentCorrected(**incident_fields(version=1))
    assert "version" in _error_fields(caught.value)


def test_models_are_frozen() -> None:
    reported = incident()
    with pytest.raises(ValidationError):
        reported.version = 5  # type: ignore[misc]


def test_group_rejects_duplicate_members_and_naive_times() -> None:
    payload = json.loads(group().model_dump_json())
    payload["members"].append(payload["members"][0])
    with pytest.raises(ValidationError, match="same person_ref"):
        GroupProfile.model_validate(payload)
    payload = json.loads(group().model_dump_json())
    payload["notifications"][0]["delivered_at"] = "2026-01-01T10:00:00"
    error = _reject(GroupProfile, payload)
    assert "notifications.0.delivered_at" in _error_fields(error)


def test_unknown_supervision_status_is_rejected() -> None:
    payload = json.loads(group().model_dump_json())
    payload["members"][0]["supervision"] = "house_arrest"
    error = _reject(GroupProfile, payload)
    assert "members.0.supervision" in _error_fields(error)


def test_task_deadline_must_follow_creation() -> None:
    with pytest.raises(ValidationError, match="deadline is not after created_at"):
        SanctionTask(
            task_id=uuid4(),
            incident_id="INC-1",
            incident_version=1,
            group_id="GRP-1",
            recipient="skatteverket",
            kind="sanction",
            action="tax-review",
            title="Review",
            subject={"kind": "group", "ref": "GRP-1"},
            legal_basis="SFL",
            priority="normal",
            created_at=T0,
            deadline=T0,
            policy_version="p1",
            rule_id="r1",
            tier=1,
            reason="because",
        )


def test_declining_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        TaskStatusChange(
            task_id=uuid4(),
            recipient="skatteverket",
            status=TaskStatus.DECLINED,
            changed_at=T0,
            reported_by="handlaggare-1",
        )


def test_recipient_ids_are_lowercase_slugs() -> None:
    with pytest.raises(ValidationError) as caught:
        TaskStatusChange(
            task_id=uuid4(),
            recipient="Skatteverket AB",
            status=TaskStatus.ACKNOWLEDGED,
            changed_at=T0,
            reported_by="handlaggare-1",
        )
    assert "recipient" in _error_fields(caught.value)


def test_rejection_carries_coordinates() -> None:
    rejection = Rejection(
        source_topic="gvi.incidents",
        source_partition=2,
        source_offset=41,
        source_key="INC-1",
        error_code=RejectionCode.MALFORMED_JSON,
        message="Expecting value: line 1 column 1",
        rejected_at=datetime.fromisoformat("2026-11-20T21:00:00+00:00"),
    )
    assert json.loads(rejection.model_dump_json())["source_offset"] == 41

"""The wire is read as strictly as the published JSON Schemas say: types, bounds, duplicate keys."""

import json
from typing import Any

import pytest

from events.codec import decode, decode_with
from schemas import GroupProfile, RejectionCode, TaskStatusChange
from schemas.rejection import Refused
from tests.support.builders import group, incident
from workers.stream.agents.intake import INCIDENT_EVENT


def _incident_bytes(**overrides: Any) -> bytes:
    payload = json.loads(incident().model_dump_json())
    payload.update(overrides)
    return json.dumps(payload).encode()


def _refusal(raw: bytes) -> Refused:
    with pytest.raises(Refused) as caught:
        decode_with(INCIDENT_EVENT, raw)
    return caught.value


def test_a_valid_incident_is_read() -> None:
    assert decode_with(INCIDENT_EVENT, _incident_bytes()) == incident()


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", True), ("version", "1"), ("occurred_at", 0), ("occurred_at", 1.7e9)],
)
def test_a_value_of_another_json_type_is_refused(field: str, value: Any) -> None:
    refusal = _refusal(_incident_bytes(**{field: value}))
    assert refusal.code is RejectionCode.SCHEMA_VIOLATION
    assert field in refusal.message


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2100-01-01T00:00:00+00:00"]
)
def test_a_date_outside_the_years_2000_to_2099_is_refused(moment: str) -> None:
    refusal = _refusal(_incident_bytes(occurred_at=moment, reported_at=moment))
    assert refusal.code is RejectionCode.SCHEMA_VIOLATION
    assert "occurred_at" in refusal.message and "2000 to 2099" in refusal.message


@pytest.mark.parametrize(
    "moment", ["2000-01-01T00:30:00+01:00", "2099-12-31T23:30:00-01:00", "1999-12-31T23:59:59Z"]
)
def test_the_years_bound_the_moment_in_utc_not_its_local_time(moment: str) -> None:
    refusal = _refusal(_incident_bytes(occurred_at=moment, reported_at=moment))
    assert f"2000 to 2099 (with a time zone), not {moment}" in refusal.message


@pytest.mark.parametrize(
    "moment", ["2000-01-01T00:00:00Z", "2000-01-01T00:30:00-01:00", "2099-12-31T23:30:00+01:00"]
)
def test_a_moment_inside_the_years_is_read(moment: str) -> None:
    assert decode_with(INCIDENT_EVENT, _incident_bytes(occurred_at=moment, reported_at=moment))


def test_a_json_object_that_names_a_key_twice_is_refused() -> None:
    raw = _incident_bytes()[:-1] + b', "version": 2}'
    refusal = _refusal(raw)
    assert refusal.code is RejectionCode.MALFORMED_JSON
    assert "'version' twice" in refusal.message


def test_a_duplicate_key_in_a_nested_object_is_refused() -> None:
    profile = json.loads(group().model_dump_json())
    text = json.dumps(profile).replace(
        '"person_ref": "P-AAA1"', '"person_ref": "P-AAA1", "person_ref": "P-ZZZ9"'
    )
    with pytest.raises(Refused) as caught:
        decode(GroupProfile, text.encode())
    assert caught.value.code is RejectionCode.MALFORMED_JSON


@pytest.mark.parametrize("members", ["P-AAA1", 7, [{"person_ref": 12}], {"person_ref": "P-A"}])
def test_a_group_profile_with_wrong_types_is_refused(members: Any) -> None:
    profile = json.loads(group().model_dump_json())
    profile["members"] = members
    with pytest.raises(Refused) as caught:
        decode(GroupProfile, json.dumps(profile).encode())
    assert caught.value.code is RejectionCode.SCHEMA_VIOLATION


def test_a_status_update_with_a_number_for_its_time_is_refused() -> None:
    update = {
        "task_id": "bf4d2775-36c5-5e83-a063-fba425f972e4",
        "recipient": "skatteverket",
        "status": "acknowledged",
        "changed_at": 1763000000,
        "reported_by": "skv-1",
    }
    with pytest.raises(Refused) as caught:
        decode(TaskStatusChange, json.dumps(update).encode())
    assert "changed_at" in caught.value.message

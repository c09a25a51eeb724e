"""Incident intake: duplicates, stale versions, retractions and which groups must plan."""

from datetime import timedelta

import pytest

from schemas import IncidentRetracted, Refused, RejectionCode
from tests.support.builders import T0, attribution, correction, incident
from workers.core.intake import GroupAssignment, admit, answer_unknown_group
from workers.policies import load_policy

POLICY = load_policy()


def _retraction(version: int = 2) -> IncidentRetracted:
    return IncidentRetracted(
        incident_id="INC-TEST-1",
        version=version,
        retracted_at=T0 + timedelta(days=1),
        reason="invented reason",
        source_system="test-feed",
    )


def test_first_report_assigns_each_qualifying_group() -> None:
    both = incident(attributions=(attribution("GRP-A"), attribution("GRP-B", 0.3)))
    admission = admit(None, both, POLICY)
    assert not admission.duplicate
    assert admission.assignments == (GroupAssignment("GRP-A", attributed=True),)
    assert admission.record.groups == ("GRP-A",)


def test_exact_duplicate_goes_to_its_groups_again_and_conflict_is_refused() -> None:
    first = admit(None, incident(), POLICY).record
    again = admit(first, incident(), POLICY)
    assert again.duplicate and again.record == first
    assert again.assignments == (GroupAssignment("GRP-TEST-A", attributed=True),)
    with pytest.raises(Refused) as caught:
        admit(first, incident(municipality="Botkyrka"), POLICY)
    assert caught.value.code is RejectionCode.CONFLICTING_VERSION


def test_older_version_is_refused() -> None:
    second = admit(admit(None, incident(), POLICY).record, correction(version=3), POLICY).record
    with pytest.raises(Refused) as caught:
        admit(second, correction(version=2), POLICY)
    assert caught.value.code is RejectionCode.STALE_VERSION


def test_reattribution_assigns_the_new_group_and_releases_the_old() -> None:
    first = admit(None, incident(), POLICY).record
    moved = admit(first, correction(attributions=(attribution("GRP-TEST-B"),)), POLICY)
    assert moved.assignments == (
        GroupAssignment("GRP-TEST-B", attributed=True),
        GroupAssignment("GRP-TEST-A", attributed=False),
    )


def test_retraction_releases_every_group_and_closes_the_incident() -> None:
    first = admit(None, incident(), POLICY).record
    retracted = admit(first, _retraction(), POLICY)
    assert retracted.assignments == (GroupAssignment("GRP-TEST-A", attributed=False),)
    assert retracted.record.retracted
    with pytest.raises(Refused) as caught:
        admit(retracted.record, correction(version=3), POLICY)
    assert caught.value.code is RejectionCode.INCIDENT_RETRACTED


def test_retraction_of_an_unknown_incident_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        admit(None, _retraction(), POLICY)
    assert caught.value.code is RejectionCode.UNKNOWN_INCIDENT


def test_a_message_is_answered_unknown_group_once_whatever_the_number_of_unknown_groups() -> None:
    record = admit(None, incident(), POLICY).record
    answered = answer_unknown_group(record, 1, "gvi.incidents/2/40")
    assert answered is not None
    assert answer_unknown_group(answered, 1, "gvi.incidents/2/40") is None
    assert answer_unknown_group(answered, 1, "gvi.incidents/2/41") is not None
    assert answer_unknown_group(answered, 2, "gvi.incidents/2/42") is None
    assert answer_unknown_group(None, 1, "gvi.incidents/2/43") is None

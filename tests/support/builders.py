"""Builders of invented test data: pseudonymous person refs and invented group names only."""

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.group import (
    GroupMember,
    GroupProfile,
    Notification,
    NotificationKind,
    SupervisionStatus,
)
from schemas.history import GroupHistory, HistoryEntry
from schemas.incident import Attribution, IncidentCorrected, IncidentReported, IncidentType, Outcome

T0 = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


def group(
    group_id: str = "GRP-TEST-A",
    *,
    alias: str = "Testgänget (invented)",
    notified: bool = True,
    members: tuple[GroupMember, ...] | None = None,
) -> GroupProfile:
    return GroupProfile(
        group_id=group_id,
        alias=alias,
        municipality="Huddinge",
        members=members
        if members is not None
        else (
            GroupMember(person_ref="P-AAA1", supervision=SupervisionStatus.PAROLE),
            GroupMember(person_ref="P-BBB2", supervision=SupervisionStatus.PROBATION),
            GroupMember(person_ref="P-CCC3", supervision=SupervisionStatus.NONE),
            GroupMember(person_ref="P-DDD4", supervision=SupervisionStatus.IN_CUSTODY),
        ),
        notifications=(
            Notification(
                kind=NotificationKind.CALL_IN,
                delivered_at=T0 - timedelta(days=60),
                agency="polisen-test",
            ),
        )
        if notified
        else (),
        updated_at=T0 - timedelta(days=1),
    )


def attribution(group_id: str = "GRP-TEST-A", confidence: float = 0.9) -> Attribution:
    return Attribution(
        group_id=group_id, confidence=confidence, attributed_by="ruc-test", basis="invented basis"
    )


def incident_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "incident_id": "INC-TEST-1",
        "version": 1,
        "occurred_at": T0,
        "reported_at": T0 + timedelta(minutes=20),
        "municipality": "Huddinge",
        "police_area": "LPO Huddinge",
        "incident_type": IncidentType.SHOOTING,
        "outcome": Outcome.INJURED,
        "attributions": (attribution(),),
        "focus_person_refs": ("P-AAA1",),
        "source_system": "test-feed",
        "narrative": "NARRATIVE-SECRET invented narrative text",
    }
    fields.update(overrides)
    return fields


def incident(**overrides: Any) -> IncidentReported:
    return IncidentReported(**incident_fields(**overrides))


def correction(version: int = 2, **overrides: Any) -> IncidentCorrected:
    return IncidentCorrected(**incident_fields(version=version, **overrides))


def history(group_id: str = "GRP-TEST-A", *entries: HistoryEntry) -> GroupHistory:
    return GroupHistory(group_id=group_id, entries=entries)


def earlier(days_before: int, tier: int | None = 1, incident_id: str = "INC-OLD-1") -> HistoryEntry:
    return HistoryEntry(
        incident_id=incident_id,
        occurred_at=T0 - timedelta(days=days_before),
        incident_type=IncidentType.SHOOTING,
        tier=tier,
    )

"""Invented groups and incidents for the demo: pseudonymous refs, invented names, dated now."""

from datetime import datetime, timedelta

from schemas.group import (
    GroupMember,
    GroupProfile,
    Notification,
    NotificationKind,
    SupervisionStatus,
)
from schemas.incident import Attribution, IncidentReported, IncidentType, Outcome


def demo_groups(now: datetime) -> list[GroupProfile]:
    """A notified group in Huddinge and a never-notified one in Örebro."""
    return [
        GroupProfile(
            group_id="DEMO-GRP-HUD-1",
            alias="Demo: Norra gänget (invented)",
            municipality="Huddinge",
            members=(
                GroupMember(person_ref="DEMO-P-101", supervision=SupervisionStatus.PAROLE),
                GroupMember(person_ref="DEMO-P-102", supervision=SupervisionStatus.PROBATION),
                GroupMember(person_ref="DEMO-P-103"),
                GroupMember(person_ref="DEMO-P-104", supervision=SupervisionStatus.IN_CUSTODY),
            ),
            notifications=(
                Notification(
                    kind=NotificationKind.CALL_IN,
                    delivered_at=now - timedelta(days=120),
                    agency="polisen-syd-huddinge",
                ),
            ),
            updated_at=now - timedelta(days=1),
        ),
        GroupProfile(
            group_id="DEMO-GRP-ORE-1",
            alias="Demo: Syd-nätverket (invented)",
            municipality="Örebro",
            members=(
                GroupMember(person_ref="DEMO-P-201"),
                GroupMember(person_ref="DEMO-P-202", supervision=SupervisionStatus.PROBATION),
            ),
            updated_at=now - timedelta(days=1),
        ),
    ]


def _incident(
    incident_id: str,
    now: datetime,
    municipality: str,
    incident_type: IncidentType,
    outcome: Outcome,
    group_id: str,
    confidence: float,
) -> IncidentReported:
    return IncidentReported(
        incident_id=incident_id,
        version=1,
        occurred_at=now - timedelta(minutes=40),
        reported_at=now - timedelta(minutes=10),
        municipality=municipality,
        police_area=f"LPO {municipality}",
        incident_type=incident_type,
        outcome=outcome,
        attributions=(
            Attribution(
                group_id=group_id,
                confidence=confidence,
                attributed_by="demo-ruc",
                basis="Invented demo attribution",
            ),
        ),
        source_system="gvi-demo",
        narrative="Invented demo narrative: police only, never disclosed to partner agencies.",
    )


def demo_incidents(now: datetime) -> list[IncidentReported]:
    """A shooting by the notified group, an explosion by the other, and a weak attribution."""
    return [
        _incident(
            "DEMO-INC-HUD-1",
            now,
            "Huddinge",
            IncidentType.SHOOTING,
            Outcome.INJURED,
            "DEMO-GRP-HUD-1",
            0.9,
        ),
        _incident(
            "DEMO-INC-ORE-1",
            now,
            "Örebro",
            IncidentType.EXPLOSION,
            Outcome.NONE,
            "DEMO-GRP-ORE-1",
            0.8,
        ),
        _incident(
            "DEMO-INC-HUD-2",
            now,
            "Huddinge",
            IncidentType.THREAT,
            Outcome.NONE,
            "DEMO-GRP-HUD-1",
            0.4,
        ),
    ]

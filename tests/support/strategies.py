"""Hypothesis strategies for invented incidents, groups and histories."""

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from schemas import (
    Attribution,
    GroupHistory,
    GroupMember,
    GroupProfile,
    HistoryEntry,
    IncidentReported,
    IncidentType,
    Notification,
    NotificationKind,
    Outcome,
    SupervisionStatus,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_TOKEN = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=6, max_size=10)

person_refs = _TOKEN.map(lambda token: f"P-{token}")
moments = st.integers(min_value=0, max_value=300 * 24 * 60).map(
    lambda minutes: EPOCH + timedelta(minutes=minutes)
)


@st.composite
def groups(draw: st.DrawFn, group_id: str = "GRP-PROP-A") -> GroupProfile:
    refs = draw(st.lists(person_refs, min_size=0, max_size=8, unique=True))
    members = tuple(
        GroupMember(
            person_ref=ref,
            supervision=draw(st.sampled_from(SupervisionStatus)),
            flags=tuple(
                draw(
                    st.lists(
                        st.sampled_from(["focus_person", "business_owner"]), max_size=2, unique=True
                    )
                )
            ),
        )
        for ref in refs
    )
    notifications = tuple(
        Notification(
            kind=draw(st.sampled_from(NotificationKind)), delivered_at=moment, agency="polisen-prop"
        )
        for moment in draw(st.lists(moments, max_size=3))
    )
    return GroupProfile(
        group_id=group_id,
        alias=f"Alias-{draw(_TOKEN)}",
        municipality="Uppsala",
        members=members,
        notifications=notifications,
        updated_at=EPOCH,
    )


@st.composite
def incidents(draw: st.DrawFn, group_id: str = "GRP-PROP-A") -> IncidentReported:
    occurred = draw(moments)
    attributions = draw(
        st.lists(
            st.builds(
                Attribution,
                group_id=st.just(group_id),
                confidence=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
                attributed_by=_TOKEN.map(lambda token: f"ATTRIBUTOR-{token}"),
                basis=_TOKEN.map(lambda token: f"BASIS-{token}"),
            ),
            max_size=1,
        )
    )
    return IncidentReported(
        incident_id=f"INC-{draw(_TOKEN)}",
        version=1,
        occurred_at=occurred,
        reported_at=occurred
        + timedelta(minutes=draw(st.integers(min_value=0, max_value=7 * 24 * 60))),
        municipality="Uppsala",
        police_area="LPO Uppsala",
        incident_type=draw(st.sampled_from(IncidentType)),
        outcome=draw(st.sampled_from(Outcome)),
        attributions=tuple(attributions),
        focus_person_refs=(),
        source_system="prop-feed",
        narrative=f"NARRATIVE-{draw(_TOKEN)} invented",
    )


@st.composite
def histories(draw: st.DrawFn, group_id: str = "GRP-PROP-A") -> GroupHistory:
    entries = tuple(
        HistoryEntry(
            incident_id=f"INC-OLD-{index}",
            occurred_at=moment,
            incident_type=draw(st.sampled_from(IncidentType)),
            tier=draw(st.one_of(st.none(), st.integers(min_value=1, max_value=2))),
        )
        for index, moment in enumerate(draw(st.lists(moments, max_size=4)))
    )
    return GroupHistory(group_id=group_id, entries=entries)

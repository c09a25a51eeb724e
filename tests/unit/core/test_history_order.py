"""The group history's tier and bounds, computed fast, answer as their plain definitions do."""

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import GroupHistory, HistoryEntry, IncidentType
from workers.core import planner
from workers.core.planner import HISTORY_CAP, tier_for, with_entry
from workers.core.policy import Policy
from workers.policies import load_policy

POLICY = load_policy()
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
settings.register_profile("gvi-history", max_examples=300, deadline=None)

offsets = st.sampled_from([timezone(timedelta(hours=h)) for h in (-5, 0, 1, 2, 9)])
moments = st.builds(
    lambda days, minutes, zone: (EPOCH + timedelta(days=days, minutes=minutes)).astimezone(zone),
    st.integers(min_value=0, max_value=60),
    st.sampled_from([0, 1, 720]),
    offsets,
)
"""Whole days apart as often as not: entries fall exactly on the window's and horizon's edges."""
tiers = st.one_of(st.none(), st.integers(min_value=1, max_value=4))
entries = st.builds(
    HistoryEntry,
    incident_id=st.sampled_from([f"INC-H-{n}" for n in range(40)]),
    occurred_at=moments,
    incident_type=st.sampled_from(IncidentType),
    tier=tiers,
)
policies = st.builds(
    lambda window, max_tier: POLICY.model_copy(
        update={"repeat_window_days": window, "max_tier": max_tier}
    ),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=4),
)


def plain_tier(incident: SimpleNamespace, history: GroupHistory, policy: Policy) -> int:
    window_start = incident.occurred_at - timedelta(days=policy.repeat_window_days)
    earlier = [
        e.tier
        for e in history.entries
        if e.tier is not None
        and e.incident_id != incident.incident_id
        and window_start <= e.occurred_at < incident.occurred_at
    ]
    return min(max(earlier) + 1, policy.max_tier) if earlier else 1


def plain_with_entry(
    history: GroupHistory, entry: HistoryEntry, policy: Policy, cap: int = HISTORY_CAP
) -> GroupHistory:
    kept = sorted(
        (*(e for e in history.entries if e.incident_id != entry.incident_id), entry),
        key=lambda e: (e.occurred_at, e.incident_id),
    )
    horizon = kept[-1].occurred_at - timedelta(days=2 * policy.repeat_window_days)
    bounded = [e for e in kept if e.occurred_at >= horizon][-cap:]
    return history.model_copy(update={"entries": tuple(bounded)})


@settings(settings.get_profile("gvi-history"))
@given(st.lists(entries, max_size=30), moments, st.sampled_from(["INC-H-1", "INC-NEW"]), policies)
def test_the_tier_is_the_highest_in_the_window_plus_one_in_any_order_and_time_zone(
    listed: list[HistoryEntry], occurred_at: datetime, incident_id: str, policy: Policy
) -> None:
    history = GroupHistory(group_id="GRP-H", entries=tuple(listed))
    incident = SimpleNamespace(incident_id=incident_id, occurred_at=occurred_at)
    assert tier_for(incident, history, policy) == plain_tier(incident, history, policy)  # type: ignore[arg-type]


@settings(settings.get_profile("gvi-history"))
@given(st.lists(entries, max_size=30), entries, policies)
def test_an_entry_added_keeps_the_history_sorted_and_bounded_as_defined(
    listed: list[HistoryEntry], entry: HistoryEntry, policy: Policy
) -> None:
    history = GroupHistory(group_id="GRP-H", entries=tuple(listed))
    kept = with_entry(history, entry, policy)
    assert kept.entries == plain_with_entry(history, entry, policy).entries
    order = [(e.occurred_at, e.incident_id) for e in kept.entries]
    assert order == sorted(order)
    assert [e.incident_id for e in kept.entries].count(entry.incident_id) <= 1


def test_a_long_history_keeps_its_newest_entries_up_to_the_cap() -> None:
    history = GroupHistory(group_id="GRP-H")
    for n in range(HISTORY_CAP + 30):
        entry = HistoryEntry(
            incident_id=f"INC-H-{n:04d}",
            occurred_at=EPOCH + timedelta(hours=n),
            incident_type=IncidentType.SHOOTING,
            tier=1,
        )
        history = with_entry(history, entry, POLICY)
    assert len(history.entries) == HISTORY_CAP
    assert history.entries[0].incident_id == "INC-H-0030"
    assert history.entries[-1].incident_id == f"INC-H-{HISTORY_CAP + 29:04d}"


def test_history_moments_are_kept_in_utc_as_the_same_instant() -> None:
    stockholm = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=stockholm)
    entry = HistoryEntry(
        incident_id="INC-H-TZ", occurred_at=moment, incident_type=IncidentType.SHOOTING
    )
    assert entry.occurred_at == moment
    assert entry.occurred_at.tzinfo is UTC
    parsed = HistoryEntry.model_validate_json(entry.model_dump_json())
    assert parsed.occurred_at.tzinfo is UTC
    assert parsed == entry


@settings(settings.get_profile("gvi-history"))
@given(st.lists(entries, max_size=30))
def test_a_history_read_in_any_order_is_kept_oldest_first(listed: list[HistoryEntry]) -> None:
    written = GroupHistory.model_construct(group_id="GRP-H", entries=tuple(listed))
    read = GroupHistory.model_validate_json(written.model_dump_json())
    order = [(e.occurred_at, e.incident_id) for e in read.entries]
    assert order == sorted(order)
    assert len(read.entries) == len(listed)
    assert {e.model_dump_json() for e in read.entries} == {e.model_dump_json() for e in listed}


@settings(settings.get_profile("gvi-history"))
@given(
    st.lists(entries, max_size=6),
    st.lists(entries, min_size=1, max_size=30),
    policies,
    st.integers(min_value=1, max_value=8),
)
def test_entries_added_one_after_another_keep_the_history_as_defined(
    listed: list[HistoryEntry],
    added: list[HistoryEntry],
    policy: Policy,
    cap: int,
) -> None:
    """The incident ids carried from one history to the next (entries replaced, aged out,
    capped; a first history read from elsewhere may name an incident twice) decide as a scan."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(planner, "HISTORY_CAP", cap)
        history = plain = GroupHistory(group_id="GRP-H-CHAIN", entries=tuple(listed))
        for entry in added:
            history = with_entry(history, entry, policy)
            plain = plain_with_entry(plain, entry, policy, cap)
            assert history.entries == plain.entries

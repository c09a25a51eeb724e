"""A group's plans are stored as the same bytes as pydantic writes them, with each history entry
encoded once: successive records of a group share their entries."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.common import IDENTIFIER_PATTERN
from schemas.history import GroupHistory, HistoryEntry
from schemas.incident import IncidentType
from workers.core.planner import with_entry
from workers.core.records import GroupPlans
from workers.policies import load_policy
from workers.stream.stores import stored_json

POLICY = load_policy()
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
identifiers = st.from_regex(IDENTIFIER_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 128)
entries = st.builds(
    HistoryEntry,
    incident_id=identifiers,
    occurred_at=st.integers(min_value=0, max_value=10_000).map(
        lambda minutes: EPOCH + timedelta(minutes=minutes)
    ),
    incident_type=st.sampled_from(IncidentType),
    tier=st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
)


@given(
    identifiers,
    st.lists(entries, max_size=40),
    st.lists(st.text(max_size=20), max_size=5),
)
def test_a_group_record_is_stored_as_pydantic_writes_it(
    group_id: str, listed: list[HistoryEntry], waiting: list[str]
) -> None:
    history = GroupHistory(group_id=group_id, entries=tuple(listed))
    plans = GroupPlans(group_id=group_id, history=history, waiting=tuple(waiting))
    written = plans.model_dump_json(exclude_none=True).encode("utf-8")
    assert stored_json(plans) == written
    assert stored_json(plans) == written  # the second time from the encoded entries
    assert GroupPlans.model_validate_json(stored_json(plans)) == plans


def test_a_growing_history_is_stored_as_pydantic_writes_it_at_every_step() -> None:
    plans = GroupPlans.empty("GRP-STORED")
    for n in range(250):
        entry = HistoryEntry(
            incident_id=f"INC-STORED-{n:04d}",
            occurred_at=EPOCH + timedelta(hours=n % 7),
            incident_type=IncidentType.SHOOTING,
            tier=n % 3 or None,
        )
        plans = plans.model_copy(update={"history": with_entry(plans.history, entry, POLICY)})
        assert stored_json(plans) == plans.model_dump_json(exclude_none=True).encode("utf-8")

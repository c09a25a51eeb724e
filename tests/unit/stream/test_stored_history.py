"""A group's plans are stored as the same bytes as pydantic writes them, with each history entry
encoded once: successive records of a group share their entries."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import IDENTIFIER_PATTERN
from schemas.history import GroupHistory, HistoryEntry
from schemas.incident import IncidentType
from workers.core import planner
from workers.core.planner import with_entry, without_incident
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


@settings(max_examples=300, deadline=None)
@given(
    st.lists(entries, max_size=5),
    st.lists(st.one_of(entries, st.integers(min_value=0, max_value=5)), min_size=1, max_size=25),
    st.integers(min_value=1, max_value=4),
)
def test_successive_records_of_a_group_are_stored_as_pydantic_writes_them(
    listed: list[HistoryEntry], steps: list[HistoryEntry | int], cap: int
) -> None:
    """Each record encoded from the one before it (an entry inserted anywhere, the oldest
    capped off, one retracted or nothing changed), with caps down to one entry."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(planner, "HISTORY_CAP", cap)
        plans = GroupPlans(
            group_id="GRP-STORED-CHAIN",
            history=GroupHistory(group_id="GRP-STORED-CHAIN", entries=tuple(listed)),
        )
        for step in steps:
            history = plans.history
            if isinstance(step, int):
                gone = (
                    history.entries[step].incident_id if step < len(history.entries) else "INC-NONE"
                )
                history = without_incident(history, gone)
            else:
                history = with_entry(history, step, POLICY)
            plans = plans.model_copy(update={"history": history})
            assert stored_json(plans) == plans.model_dump_json(exclude_none=True).encode("utf-8")

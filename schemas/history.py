"""A group's earlier incidents and the tier of response each one brought."""

from datetime import UTC, datetime
from itertools import pairwise
from operator import attrgetter
from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.common import Contract, Identifier, Timestamp
from schemas.incident import IncidentType


def _in_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcTimestamp = Annotated[Timestamp, AfterValidator(_in_utc)]
"""A moment kept in UTC: the planner sorts and compares a group's history at every incident,
and datetimes of one time zone object compare ten times faster than those of two."""


class HistoryEntry(Contract):
    """One earlier incident attributed to the group; `tier` is None when it brought no sanctions."""

    incident_id: Identifier
    occurred_at: UtcTimestamp
    incident_type: IncidentType
    tier: int | None = Field(default=None, ge=1, le=10)


HISTORY_ORDER = attrgetter("occurred_at", "incident_id")
"""The order of a group's history: when each incident occurred, then its id."""


def _oldest_first(entries: tuple[HistoryEntry, ...]) -> tuple[HistoryEntry, ...]:
    if all(HISTORY_ORDER(a) <= HISTORY_ORDER(b) for a, b in pairwise(entries)):
        return entries
    return tuple(sorted(entries, key=HISTORY_ORDER))


class GroupHistory(Contract):
    """The sanction history of one group."""

    group_id: Identifier
    entries: Annotated[tuple[HistoryEntry, ...], AfterValidator(_oldest_first)] = Field(
        default=(), max_length=1000
    )
    """Oldest first (by when each incident occurred, then its id), as validation sorts them:
    the planner finds a tier's window by bisection."""

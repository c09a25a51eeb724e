"""A group's earlier incidents and the tier of response each one brought."""

from pydantic import Field

from schemas.common import Contract, Identifier, Timestamp
from schemas.incident import IncidentType


class HistoryEntry(Contract):
    """One earlier incident attributed to the group; `tier` is None when it brought no sanctions."""

    incident_id: Identifier
    occurred_at: Timestamp
    incident_type: IncidentType
    tier: int | None = Field(default=None, ge=1, le=10)


class GroupHistory(Contract):
    """The sanction history of one group."""

    group_id: Identifier
    entries: tuple[HistoryEntry, ...] = Field(default=(), max_length=1000)

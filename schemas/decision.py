"""A recorded planning decision: which tasks an incident brings, and why."""

from pydantic import Field

from schemas.common import Contract, Identifier, Text, Timestamp, WireEnum
from schemas.task import SanctionTask


class DecisionOutcome(WireEnum):
    """Whether the decision brought tasks."""

    TASKS = "tasks"
    NO_ACTION = "no_action"


class GroupDecision(Contract):
    """The decision for one attributed group."""

    group_id: Identifier
    notified: bool
    tier: int = Field(ge=0, le=10)
    matched_rules: tuple[Identifier, ...]
    reasons: tuple[Text, ...]
    tasks: tuple[SanctionTask, ...]


class Decision(Contract):
    """The planner's decision for one version of one incident."""

    incident_id: Identifier
    incident_version: int = Field(ge=1)
    policy_version: Identifier
    partnership: Identifier | None = None
    decided_at: Timestamp
    outcome: DecisionOutcome
    reasons: tuple[Text, ...]
    groups: tuple[GroupDecision, ...] = ()

    @property
    def tasks(self) -> tuple[SanctionTask, ...]:
        return tuple(task for group in self.groups for task in group.tasks)

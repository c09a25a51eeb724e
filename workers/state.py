"""The shapes of the worker's table values (JSON in the changelog); not a public contract."""

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from events.envelopes import SourceRef
from schemas.history import GroupHistory
from schemas.task import RecipientTaskView, SanctionTask, TaskStatusChange


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GroupPlans(_State):
    """Per group: its sanction history and the open plan of each incident attributed to it."""

    group_id: str
    history: GroupHistory
    incidents: dict[str, tuple[SanctionTask, ...]] = {}

    @classmethod
    def empty(cls, group_id: str) -> "GroupPlans":
        return cls(group_id=group_id, history=GroupHistory(group_id=group_id))


class TaskRecord(_State):
    """Per task: the task itself and the view its recipient was sent."""

    task: SanctionTask
    view: RecipientTaskView


class IncidentTasks(_State):
    """Per incident: every task's latest state, for the completion snapshot."""

    incident_id: str
    incident_version: int
    policy_version: str
    tasks: dict[str, SanctionTask] = {}


class ParkedUpdate(_State):
    """A status update that arrived before its task was known, and where it was read."""

    change: TaskStatusChange
    source: SourceRef
    parked_at: datetime


class ParkedUpdates(_State):
    """Per task id not yet known: its status updates in arrival order, kept until it is."""

    updates: tuple[ParkedUpdate, ...] = ()

    def expired_at(self, now: datetime, wait: timedelta) -> bool:
        """True once the oldest update has waited `wait` for its task."""
        return bool(self.updates) and now - self.updates[0].parked_at >= wait

"""The shapes of the worker's table values (JSON in the changelog); not a public contract."""

from pydantic import BaseModel, ConfigDict

from schemas.history import GroupHistory
from schemas.task import RecipientTaskView, SanctionTask


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

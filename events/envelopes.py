"""Internal messages between the agents; not a public contract."""

from enum import StrEnum
from typing import Literal

from schemas.common import Contract, Identifier, ShortText, Text, Timestamp
from schemas.incident import IncidentCorrected, IncidentReported, IncidentRetracted
from schemas.task import RecipientTaskView, SanctionTask


class SourceRef(Contract):
    """Where the message that started the work was read: for rejections further down the line."""

    topic: ShortText
    partition: int
    offset: int
    key: str | None = None


class GroupWork(Contract):
    """Plan (or cancel) one incident's tasks for one group; keyed by group id."""

    group_id: Identifier
    incident: IncidentReported | IncidentCorrected | None = None
    retraction: IncidentRetracted | None = None
    attributed: bool
    source: SourceRef


class TaskCommandKind(StrEnum):
    """What the planner asks of the task agent."""

    CREATE = "create"
    CANCEL = "cancel"
    MARK_OVERDUE = "mark_overdue"


class TaskCommand(Contract):
    """Create, cancel or mark overdue one task; keyed by task id."""

    command: TaskCommandKind
    task: SanctionTask
    incident_version: int
    view: RecipientTaskView | None = None
    reason: Text | None = None
    at: Timestamp
    source: SourceRef


class TaskEvent(Contract):
    """Tasks planned for an incident, one task's new state, or a decision without tasks.

    Keyed by incident id. `planned` announces a group's whole plan before its tasks are
    dispatched, so that the first snapshot already counts every task.
    """

    event: Literal["planned", "task", "no_tasks"]
    incident_id: Identifier
    incident_version: int
    policy_version: Identifier
    tasks: tuple[SanctionTask, ...] = ()
    at: Timestamp

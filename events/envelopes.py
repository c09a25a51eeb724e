"""Internal messages between the agents; not a public contract."""

from enum import StrEnum
from typing import Literal, Self
from uuid import UUID

from pydantic import model_validator

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
    """Plan (or cancel) one incident's tasks for one group, or give up waiting for the group's
    profile (`expire_parked`, from the deadline timer); keyed by group id."""

    group_id: Identifier
    incident: IncidentReported | IncidentCorrected | None = None
    retraction: IncidentRetracted | None = None
    attributed: bool
    source: SourceRef
    expire_parked: Identifier | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [self.incident, self.retraction, self.expire_parked]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("group work carries exactly one of incident, retraction, expiry")
        return self

    @property
    def incident_id(self) -> str:
        if self.incident is not None:
            return self.incident.incident_id
        if self.retraction is not None:
            return self.retraction.incident_id
        return str(self.expire_parked)


class UnknownGroupReport(Contract):
    """Planning waited in vain for a group's profile: intake answers the incident message once
    (keyed by incident id), however many of its groups are unknown."""

    incident_id: Identifier
    version: int
    group_id: Identifier
    waited_seconds: float
    source: SourceRef


class TaskCommandKind(StrEnum):
    """What the planner asks of the task agent."""

    CREATE = "create"
    CANCEL = "cancel"
    MARK_OVERDUE = "mark_overdue"
    EXPIRE_PARKED = "expire_parked"


class TaskCommand(Contract):
    """Create, cancel or mark overdue one task, or reject the status updates still parked for
    a task id that never became known; keyed by task id."""

    command: TaskCommandKind
    task: SanctionTask | None = None
    task_id: UUID | None = None
    incident_version: int = 0
    view: RecipientTaskView | None = None
    reason: Text | None = None
    at: Timestamp
    source: SourceRef

    @model_validator(mode="after")
    def _names_its_task(self) -> Self:
        if self.command in (TaskCommandKind.EXPIRE_PARKED, TaskCommandKind.CANCEL):
            if self.task_id is None or self.task is not None:
                raise ValueError(f"{self.command.value} names a task_id and carries no task")
        elif self.task is None:
            raise ValueError(f"{self.command.value} carries the task")
        return self

    @property
    def subject_id(self) -> str:
        """The id of the task this command is about."""
        return str(self.task.task_id if self.task is not None else self.task_id)


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

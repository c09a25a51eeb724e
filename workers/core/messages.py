"""Internal messages between the agents, as sum types; not a public contract."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.common import Contract, Identifier, ShortText, Text, Timestamp, built
from schemas.incident import IncidentCorrected, IncidentReported, IncidentRetracted
from schemas.task import SanctionTask, TaskKind, TaskStatus
from workers.core.projection import TaskContext


class SourceRef(Contract):
    """Where the message that started the work was read: for rejections further down the line."""

    topic: ShortText
    partition: int
    offset: int
    key: str | None = None


class PlanForGroup(Contract):
    """Plan one incident's (new version's) tasks for one group; `attributed` False cancels them.
    Keyed by group id."""

    work: Literal["plan"] = "plan"
    group_id: Identifier
    incident: IncidentReported | IncidentCorrected
    attributed: bool
    source: SourceRef
    published_at: Timestamp | None = None
    """The incident message's timestamp (for the dispatch latency metric)."""
    policy_version: Identifier | None = None
    """The base playbook version that plans the incident: in force at its first report's
    `reported_at` (None: the one in force at this version's)."""

    @property
    def incident_id(self) -> str:
        return self.incident.incident_id


class RetractForGroup(Contract):
    """Cancel every task of a retracted incident for one group; keyed by group id."""

    work: Literal["retract"] = "retract"
    group_id: Identifier
    retraction: IncidentRetracted
    source: SourceRef
    policy_version: Identifier | None = None
    """The effective playbook version that planned the incident."""

    @property
    def incident_id(self) -> str:
        return self.retraction.incident_id


class GiveUpWaiting(Contract):
    """From the deadline timer: stop waiting for a group's profile for one incident; keyed by
    group id."""

    work: Literal["give_up"] = "give_up"
    group_id: Identifier
    incident_id: Identifier


GroupWork = Annotated[PlanForGroup | RetractForGroup | GiveUpWaiting, Field(discriminator="work")]
GROUP_WORK: TypeAdapter[GroupWork] = TypeAdapter(GroupWork)


class UnknownGroupReport(Contract):
    """Planning waited in vain for a group's profile: intake answers the incident message once
    (keyed by incident id), however many of its groups are unknown."""

    incident_id: Identifier
    version: int
    group_id: Identifier
    waited_seconds: float
    source: SourceRef


class NewTask(Contract):
    """A task as planning dispatched it (status delivered; created when its recipient's topic
    could not be written, for the deadline timer to send later), and the facts its
    recipient's view holds beyond the task."""

    task: SanctionTask
    context: TaskContext


class CreateTasks(Contract):
    """Tasks already dispatched by planning, for the task agent to keep. Every task of one
    message has the same partition; keyed by the first task's id."""

    command: Literal["create"] = "create"
    tasks: tuple[NewTask, ...] = Field(min_length=1)
    source: SourceRef


class CancelTask(Contract):
    """The incident's new version or its retraction no longer calls for a task; keyed by task id."""

    command: Literal["cancel"] = "cancel"
    task_id: UUID
    incident_version: int
    reason: Text
    at: Timestamp
    source: SourceRef


class MarkOverdue(Contract):
    """From the deadline timer: the task is past its deadline; keyed by task id."""

    command: Literal["mark_overdue"] = "mark_overdue"
    task_id: UUID
    at: Timestamp


class ExpireParkedUpdates(Contract):
    """From the deadline timer: answer the updates parked for a task id that stayed unknown."""

    command: Literal["expire_parked"] = "expire_parked"
    task_id: UUID
    at: Timestamp


class MarkDelivered(Contract):
    """From the deadline timer: a task kept as created has now reached its recipient's topic."""

    command: Literal["mark_delivered"] = "mark_delivered"
    task_id: UUID
    at: Timestamp


class RemindTask(Contract):
    """From the deadline timer: the task has reached its reminder point (the policy's share of
    its time to the deadline)."""

    command: Literal["remind"] = "remind"
    task_id: UUID
    at: Timestamp


TaskCommand = Annotated[
    CreateTasks | CancelTask | MarkOverdue | ExpireParkedUpdates | MarkDelivered | RemindTask,
    Field(discriminator="command"),
]
TASK_COMMAND: TypeAdapter[TaskCommand] = TypeAdapter(TaskCommand)


class TaskLine(BaseModel):
    """What completion keeps of a task: its line in the snapshot and its revision. Task events
    carry tasks as lines, not whole tasks (a third of the bytes to encode and read); other
    fields are ignored, so that the whole tasks an earlier version wrote are read as lines."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: UUID
    recipient: str
    kind: TaskKind
    action: str
    group_id: str
    status: TaskStatus
    deadline: datetime
    overdue: bool
    escalated: bool
    revision: int

    @classmethod
    def of(cls, task: "SanctionTask | TaskLine") -> "TaskLine":
        if isinstance(task, TaskLine):
            return task
        return built(
            cls,
            task_id=task.task_id,
            recipient=task.recipient,
            kind=task.kind,
            action=task.action,
            group_id=task.group_id,
            status=task.status,
            deadline=task.deadline,
            overdue=task.overdue,
            escalated=task.escalated,
            revision=task.revision,
        )


class TaskEvent(Contract):
    """Tasks planned for an incident, one task's new state, or a decision without tasks.

    Keyed by incident id. `planned` carries a group's new tasks as they were dispatched, so
    that the first snapshot already counts every task.
    """

    event: Literal["planned", "task", "no_tasks"]
    incident_id: Identifier
    incident_version: int
    policy_version: Identifier
    partnership: Identifier | None = None
    tasks: tuple[TaskLine, ...] = ()
    at: Timestamp

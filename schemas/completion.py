"""The completion snapshot of one incident that supervisors watch."""

from uuid import UUID

from pydantic import Field

from schemas.common import Contract, Identifier, RecipientId, Timestamp, WireEnum
from schemas.task import TaskKind, TaskStatus


class IncidentProgress(WireEnum):
    """The incident's state as supervisors see it."""

    NO_ACTION = "no_action"
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskProgress(Contract):
    """One task's line in the snapshot."""

    task_id: UUID
    recipient: RecipientId
    kind: TaskKind
    action: Identifier
    group_id: Identifier
    status: TaskStatus
    deadline: Timestamp
    overdue: bool
    escalated: bool


class CompletionSnapshot(Contract):
    """Progress of every task of one incident; emitted on every change. It lists at most
    `MAX_LISTED_TASKS` tasks, so that it stays small however many members the groups have."""

    incident_id: Identifier
    incident_version: int = Field(ge=1)
    policy_version: Identifier
    partnership: Identifier | None = Field(
        default=None,
        description="the GVI partnership whose playbook planned it (None: a playbook without "
        "partnerships)",
    )
    progress: IncidentProgress
    tasks_total: int = Field(ge=0)
    tasks_open: int = Field(ge=0)
    tasks_completed: int = Field(ge=0)
    tasks_overdue: int = Field(ge=0)
    by_status: dict[TaskStatus, int]
    percent_complete: float = Field(ge=0.0, le=100.0)
    tasks: tuple[TaskProgress, ...]
    tasks_omitted: int = Field(
        default=0,
        ge=0,
        description="tasks left out of `tasks` to keep the snapshot small (open ones are listed "
        "first, by deadline) and, from the gateway, for a moment, tasks whose own record it has "
        "not read yet (it shows a task once it can audit it); every count above includes them",
    )
    updated_at: Timestamp

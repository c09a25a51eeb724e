"""Sanction tasks, their status changes and the view of a task that one recipient may see."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from schemas.common import (
    Contract,
    Identifier,
    PersonRef,
    RecipientId,
    ShortText,
    Text,
    Timestamp,
    WireEnum,
)
from schemas.incident import IncidentType, Outcome


class TaskKind(WireEnum):
    """What a task is for (DESIGN §5)."""

    SANCTION = "sanction"
    SUPPORT = "support"
    NOTIFICATION = "notification"
    FOLLOW_UP = "follow_up"


class TaskStatus(WireEnum):
    """Where a task stands; overdue and escalated are flags, not states."""

    CREATED = "created"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.DECLINED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)
OPEN_STATUSES = frozenset(set(TaskStatus) - TERMINAL_STATUSES)


class Priority(WireEnum):
    """How urgently the recipient should act."""

    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class SubjectKind(WireEnum):
    """Whom a task is about: the whole group or one member."""

    GROUP = "group"
    MEMBER = "member"


class TaskSubject(Contract):
    """The group or the one member that a task concerns."""

    kind: SubjectKind
    ref: Identifier


class SanctionTask(Contract):
    """A task as the worker keeps it; recipients see a projection of it."""

    task_id: UUID
    incident_id: Identifier
    incident_version: int = Field(ge=1)
    group_id: Identifier
    recipient: RecipientId
    kind: TaskKind
    action: Identifier
    title: ShortText
    subject: TaskSubject
    legal_basis: ShortText
    priority: Priority
    created_at: Timestamp
    deadline: Timestamp
    policy_version: Identifier
    rule_id: Identifier
    tier: int = Field(ge=0, le=10)
    reason: Text
    partnership: Identifier | None = Field(
        default=None,
        description="the GVI partnership whose playbook planned it (None: a playbook without "
        "partnerships)",
    )
    status: TaskStatus = TaskStatus.CREATED
    status_reason: Text | None = None
    status_changed_at: Timestamp | None = None
    overdue: bool = False
    escalated: bool = False
    revision: int = Field(
        default=0,
        ge=0,
        description="0 as planned; each change the task agent stores counts one up, so that "
        "a reader can tell a newer state of the task from an older one read again",
    )

    @model_validator(mode="after")
    def _deadline_after_creation(self) -> "SanctionTask":
        if self.deadline <= self.created_at:
            raise ValueError("deadline is not after created_at")
        return self

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def subject_ref(self) -> str:
        return self.subject.ref

    def is_overdue_at(self, moment: datetime) -> bool:
        """Whether the task is still open after its deadline."""
        return self.is_open and moment > self.deadline


class TaskStatusChange(Contract):
    """A status report from the recipient agency about one of its tasks, published on that
    agency's own `gvi.task-updates.<recipient>`: the topic names the agency, and `recipient`
    must name the same one (otherwise the update is answered `wrong_agency`)."""

    task_id: UUID
    recipient: RecipientId
    status: TaskStatus
    changed_at: Timestamp
    reported_by: Identifier
    reason: Text | None = None

    @model_validator(mode="after")
    def _reason_when_refusing(self) -> "TaskStatusChange":
        if self.status in (TaskStatus.DECLINED, TaskStatus.FAILED) and not self.reason:
            raise ValueError(f"a {self.status.value} update needs a reason")
        return self


class RecipientTaskView(Contract):
    """A task as one recipient may see it: only the fields its allowlist names are set."""

    kind_of_message: Literal["task"] = "task"
    task_id: UUID
    recipient: RecipientId
    action: Identifier
    title: ShortText
    legal_basis: ShortText
    deadline: Timestamp
    status: TaskStatus
    partnership: Identifier | None = None
    kind: TaskKind | None = None
    priority: Priority | None = None
    reason: Text | None = None
    subject_kind: SubjectKind | None = None
    subject_ref: Identifier | None = None
    incident_id: Identifier | None = None
    incident_version: int | None = None
    group_id: Identifier | None = None
    group_alias: ShortText | None = None
    municipality: ShortText | None = None
    police_area: ShortText | None = None
    incident_type: IncidentType | None = None
    outcome: Outcome | None = None
    occurred_at: Timestamp | None = None
    created_at: Timestamp | None = None
    policy_version: Identifier | None = None
    rule_id: Identifier | None = None
    status_reason: Text | None = None
    narrative: str | None = None
    attributions: tuple[dict[str, str | float], ...] | None = None
    focus_person_refs: tuple[PersonRef, ...] | None = None
    group_member_refs: tuple[PersonRef, ...] | None = None

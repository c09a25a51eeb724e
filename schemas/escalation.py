"""Escalations: a task past its deadline or one that could not be delivered."""

from uuid import UUID

from pydantic import Field

from schemas.common import Contract, Identifier, RecipientId, Text, Timestamp, WireEnum


class EscalationReason(WireEnum):
    """Why a task needs a supervisor's attention."""

    DEADLINE_APPROACHING = "deadline_approaching"
    OVERDUE = "overdue"
    DELIVERY_FAILED = "delivery_failed"
    DECLINED = "declined"
    FAILED = "failed"


class EscalationLevel(WireEnum):
    """How urgent: a reminder before the deadline, or an escalation at or after it."""

    REMINDER = "reminder"
    ESCALATION = "escalation"


class Escalation(Contract):
    """A task that needs a supervisor's attention (a reminder: it soon will)."""

    task_id: UUID
    incident_id: Identifier
    recipient: RecipientId
    reason: EscalationReason
    level: EscalationLevel = EscalationLevel.ESCALATION
    deadline: Timestamp
    detected_at: Timestamp
    message: Text
    partnership: Identifier | None = Field(
        default=None,
        description="the GVI partnership whose playbook planned it (None: a playbook without "
        "partnerships)",
    )

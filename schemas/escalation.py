"""Escalations: a task past its deadline or one that could not be delivered."""

from enum import StrEnum
from uuid import UUID

from schemas.common import Contract, Identifier, RecipientId, Text, Timestamp


class EscalationReason(StrEnum):
    """Why a task needs a supervisor's attention."""

    OVERDUE = "overdue"
    DELIVERY_FAILED = "delivery_failed"
    DECLINED = "declined"
    FAILED = "failed"


class Escalation(Contract):
    """A task that needs a supervisor's attention."""

    task_id: UUID
    incident_id: Identifier
    recipient: RecipientId
    reason: EscalationReason
    deadline: Timestamp
    detected_at: Timestamp
    message: Text

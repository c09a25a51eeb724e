"""Audit records: who received what, when, and under which legal basis; never the narrative."""

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from schemas.common import Contract, Identifier, RecipientId, ShortText, Timestamp


class DisclosureChannel(StrEnum):
    """How a task reached its recipient."""

    KAFKA = "kafka"
    WEBHOOK = "webhook"
    PULL = "pull"


class AuditRecord(Contract):
    """One disclosure of one task to one recipient."""

    audit_id: UUID
    task_id: UUID
    incident_id: Identifier
    recipient: RecipientId
    channel: DisclosureChannel
    disclosed_at: Timestamp
    legal_basis: ShortText
    policy_version: Identifier
    rule_id: Identifier
    fields: tuple[Identifier, ...] = Field(max_length=64)

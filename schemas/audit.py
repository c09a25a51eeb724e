"""Audit records: who received what, when, and under which legal basis; never the narrative."""

from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.common import Contract, Identifier, RecipientId, ShortText, Text, Timestamp, WireEnum


class DisclosureChannel(WireEnum):
    """How a task reached its recipient."""

    KAFKA = "kafka"
    WEBHOOK = "webhook"
    PULL = "pull"
    DASHBOARD = "dashboard"


class AuditRecord(Contract):
    """One disclosure of one task (of `recipient`) to one receiving principal."""

    audit_id: UUID
    task_id: UUID
    incident_id: Identifier
    recipient: RecipientId
    channel: DisclosureChannel
    disclosed_at: Timestamp
    legal_basis: ShortText
    policy_version: Identifier
    rule_id: Identifier
    partnership: Identifier | None = Field(
        default=None,
        description="the GVI partnership whose playbook planned it (None: a playbook without "
        "partnerships)",
    )
    fields: tuple[Identifier, ...] = Field(max_length=64)
    receiver: Text | None = Field(
        default=None,
        description="the principal that received it: `User:<name>` on Kafka (the recipient's "
        "principal), `token:<id> (<role>)` over the API or the dashboard, `webhook:<url>`",
    )
    attempt: int | None = Field(
        default=None, ge=1, le=100, description="a webhook's attempt that carried the task"
    )
    outcome: Literal["delivered", "refused", "unanswered"] | None = Field(
        default=None, description="what the webhook's receiver answered to that attempt"
    )

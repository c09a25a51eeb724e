"""What the gateway's two disclosure channels share: the producer call, and the audit record of
a task shown to a caller (with the worker's legal basis, policy version and rule)."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from schemas.audit import AuditRecord, DisclosureChannel
from schemas.task import RecipientTaskView
from workers.core.projection import disclosed_fields

Send = Callable[[str, str, bytes], Awaitable[None]]
"""Produce (topic, key, value) and return once the broker acknowledged it."""


def disclosure_record(
    view: dict[str, Any],
    facts: dict[str, Any],
    channel: DisclosureChannel,
    audit_id: uuid.UUID,
    at: datetime,
) -> AuditRecord:
    """The audit record of showing `view` over `channel`; `facts` are what the worker's own
    audit record of the task said (the view may leave them out)."""
    return AuditRecord(
        audit_id=audit_id,
        task_id=view["task_id"],
        incident_id=facts.get("incident_id") or view.get("incident_id") or "unknown",
        recipient=view["recipient"],
        channel=channel,
        disclosed_at=at,
        legal_basis=facts.get("legal_basis") or view["legal_basis"],
        policy_version=facts.get("policy_version") or view.get("policy_version") or "unknown",
        rule_id=facts.get("rule_id") or view.get("rule_id") or "unknown",
        fields=disclosed_fields(RecipientTaskView.model_validate(view)),
    )

"""The worker's output records as the gateway takes them: each checked against its contract;
a bad one is skipped (logged without its content, counted), never fatal."""

import json
from typing import Any

import structlog
from pydantic import BaseModel

from events.codec import decode
from schemas.audit import AuditRecord
from schemas.completion import CompletionSnapshot
from schemas.escalation import Escalation
from schemas.rejection import Refused
from schemas.task import RecipientTaskView

log = structlog.get_logger("gvi.gateway.records")
CONTRACTS: dict[str, type[BaseModel]] = {
    "tasks": RecipientTaskView,
    "completion": CompletionSnapshot,
    "escalations": Escalation,
    "audit": AuditRecord,
}


class BadRecord(ValueError):
    """A record on an output topic that does not hold to its contract."""


def checked(role: str, topic: str, raw: bytes | None) -> dict[str, Any] | None:
    """The record's JSON object when it holds to the contract of its topic's role; None for a
    tombstone. Raises BadRecord (its message names the problem, never the content)."""
    if raw is None:
        return None
    try:
        model = decode(CONTRACTS[role], raw)
    except Refused as refusal:
        where = ", ".join(refusal.fields) or "the record"
        raise BadRecord(f"{refusal.code.value} in {where}") from None
    if isinstance(model, RecipientTaskView) and topic.rsplit(".", 1)[-1] != model.recipient:
        raise BadRecord("a task of another recipient")
    value: dict[str, Any] = json.loads(raw)
    return value


def skipped(topic: str, partition: int, offset: int, problem: BadRecord) -> None:
    log.error(
        "a record on an output topic is not valid; skipped",
        topic=topic,
        partition=partition,
        offset=offset,
        problem=str(problem),
    )

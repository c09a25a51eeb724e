"""The JSON Schema of every wire contract, by file name."""

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.audit import AuditRecord
from schemas.completion import CompletionSnapshot
from schemas.decision import Decision
from schemas.escalation import Escalation
from schemas.gateway_event import GatewayEvent
from schemas.group import GroupProfile
from schemas.history import GroupHistory
from schemas.incident import IncidentCorrected, IncidentEvent, IncidentReported, IncidentRetracted
from schemas.playbook import PublishedPlaybook
from schemas.rejection import Rejection
from schemas.task import RecipientTaskView, SanctionTask, TaskStatusChange

CONTRACTS: dict[str, type[BaseModel]] = {
    "incident-reported": IncidentReported,
    "incident-corrected": IncidentCorrected,
    "incident-retracted": IncidentRetracted,
    "group-profile": GroupProfile,
    "group-history": GroupHistory,
    "sanction-task": SanctionTask,
    "recipient-task-view": RecipientTaskView,
    "task-status-change": TaskStatusChange,
    "completion-snapshot": CompletionSnapshot,
    "escalation": Escalation,
    "audit-record": AuditRecord,
    "rejection": Rejection,
    "gateway-event": GatewayEvent,
    "decision": Decision,
    "published-playbook": PublishedPlaybook,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every contract's JSON Schema, keyed by its file name without `.json`."""
    exported: dict[str, dict[str, Any]] = {
        name: model.model_json_schema() for name, model in CONTRACTS.items()
    }
    incident_event: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)
    exported["incident-event"] = incident_event.json_schema()
    for name, schema in exported.items():
        schema.setdefault("$id", f"urn:gvi-sanctions:schema:{name}:v1")
    return exported


def render(schema: dict[str, Any]) -> str:
    """The canonical text of a schema file."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

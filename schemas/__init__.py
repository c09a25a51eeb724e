"""Wire contracts of gvi-sanctions: frozen pydantic v2 models, one module per concept."""

from schemas.audit import AuditRecord, DisclosureChannel
from schemas.common import SCHEMA_VERSION
from schemas.completion import CompletionSnapshot, IncidentProgress, TaskProgress
from schemas.decision import Decision, DecisionOutcome, GroupDecision
from schemas.escalation import Escalation, EscalationLevel, EscalationReason
from schemas.gateway_event import GatewayEvent
from schemas.group import (
    GroupMember,
    GroupProfile,
    Notification,
    NotificationKind,
    SupervisionStatus,
)
from schemas.history import GroupHistory, HistoryEntry
from schemas.incident import (
    Attribution,
    IncidentCorrected,
    IncidentEvent,
    IncidentReported,
    IncidentRetracted,
    IncidentType,
    Outcome,
    parse_incident_event,
)
from schemas.rejection import Refused, Rejection, RejectionCode
from schemas.task import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    Priority,
    RecipientTaskView,
    SanctionTask,
    SubjectKind,
    TaskKind,
    TaskStatus,
    TaskStatusChange,
    TaskSubject,
)

__all__ = [
    "OPEN_STATUSES",
    "SCHEMA_VERSION",
    "TERMINAL_STATUSES",
    "Attribution",
    "AuditRecord",
    "CompletionSnapshot",
    "Decision",
    "DecisionOutcome",
    "DisclosureChannel",
    "Escalation",
    "EscalationLevel",
    "EscalationReason",
    "GatewayEvent",
    "GroupDecision",
    "GroupHistory",
    "GroupMember",
    "GroupProfile",
    "HistoryEntry",
    "IncidentCorrected",
    "IncidentEvent",
    "IncidentProgress",
    "IncidentReported",
    "IncidentRetracted",
    "IncidentType",
    "Notification",
    "NotificationKind",
    "Outcome",
    "Priority",
    "RecipientTaskView",
    "Refused",
    "Rejection",
    "RejectionCode",
    "SanctionTask",
    "SubjectKind",
    "SupervisionStatus",
    "TaskKind",
    "TaskProgress",
    "TaskStatus",
    "TaskStatusChange",
    "TaskSubject",
    "parse_incident_event",
]

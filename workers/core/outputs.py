"""What the core's decisions ask the stream layer to send; the agents emit them all at once."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from schemas.audit import AuditRecord, DisclosureChannel
from schemas.common import built
from schemas.completion import CompletionSnapshot
from schemas.escalation import Escalation
from schemas.rejection import RejectionCode
from schemas.task import RecipientTaskView, SanctionTask
from workers.core.ids import uuid5
from workers.core.messages import (
    CancelTask,
    ExpireParkedUpdates,
    GroupWork,
    MarkDelivered,
    MarkOverdue,
    NewTask,
    RemindTask,
    SourceRef,
    TaskEvent,
    UnknownGroupReport,
)
from workers.core.projection import disclosed_fields

AUDIT_NAMESPACE = uuid.UUID("0b7e4c1a-53f2-5d0e-8c3b-2a9f6d4e1b70")
_KAFKA = f"{DisclosureChannel.KAFKA}"
"""The channel as audit ids have always spelled it (formatted once: an enum formats slowly)."""


@dataclass(frozen=True)
class Disclosure:
    """A task's view on its recipient's topic, and the audit record of that disclosure."""

    view: RecipientTaskView
    audit: AuditRecord

    @classmethod
    def of(
        cls, task: SanctionTask, view: RecipientTaskView, kind: str, at: datetime
    ) -> "Disclosure":
        """`kind` names the disclosure (created, cancelled): with the task id, the audit id.
        Built from the validated task and view, not validated again."""
        audit = built(
            AuditRecord,
            audit_id=uuid5(AUDIT_NAMESPACE, f"{task.task_id}:{_KAFKA}:{kind}"),
            task_id=task.task_id,
            incident_id=task.incident_id,
            recipient=task.recipient,
            channel=DisclosureChannel.KAFKA,
            disclosed_at=at,
            legal_basis=task.legal_basis,
            policy_version=task.policy_version,
            rule_id=task.rule_id,
            partnership=task.partnership,
            fields=disclosed_fields(view),
        )
        return cls(view=view, audit=audit)


@dataclass(frozen=True)
class Audited:
    """An audit record on `gvi.audit` of a disclosure made elsewhere (the gateway's HTTP)."""

    audit: AuditRecord


@dataclass(frozen=True)
class Escalate:
    """An escalation on `gvi.escalations`."""

    escalation: Escalation


@dataclass(frozen=True)
class Progress:
    """Tasks' new states for the completion agent (by incident id)."""

    event: TaskEvent


@dataclass(frozen=True)
class Snapshot:
    """An incident's completion snapshot on `gvi.completion`."""

    snapshot: CompletionSnapshot


@dataclass(frozen=True)
class Answer:
    """A refusal of a message read earlier, at the coordinates its sender published it at."""

    source: SourceRef
    code: RejectionCode
    message: str


@dataclass(frozen=True)
class KeepTasks:
    """Dispatched tasks for the task agent to keep (sent in one message per partition)."""

    tasks: tuple[NewTask, ...]
    source: SourceRef


@dataclass(frozen=True)
class Instruct:
    """A command to the task agent about one task (by task id)."""

    command: CancelTask | MarkOverdue | ExpireParkedUpdates | MarkDelivered | RemindTask


@dataclass(frozen=True)
class HandToGroup:
    """Work for one group's planner (by group id)."""

    work: GroupWork


@dataclass(frozen=True)
class ReportUnknownGroup:
    """To intake: an incident whose group stayed unknown, to be answered once."""

    report: UnknownGroupReport


Output = (
    Disclosure
    | Audited
    | Escalate
    | Progress
    | Snapshot
    | Answer
    | KeepTasks
    | Instruct
    | HandToGroup
    | ReportUnknownGroup
)

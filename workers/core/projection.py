"""Per-recipient projection: the task as its recipient may see it, by that recipient's allowlist."""

from typing import Any

from schemas.group import GroupProfile
from schemas.incident import IncidentCorrected, IncidentReported
from schemas.task import RecipientTaskView, SanctionTask
from workers.core.policy import ALWAYS_VISIBLE_FIELDS, POLICE_ONLY_FIELDS, Policy, Side


def _available_fields(
    task: SanctionTask, incident: IncidentReported | IncidentCorrected, group: GroupProfile
) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "recipient": task.recipient,
        "action": task.action,
        "title": task.title,
        "legal_basis": task.legal_basis,
        "deadline": task.deadline,
        "status": task.status,
        "kind": task.kind,
        "priority": task.priority,
        "reason": task.reason,
        "subject_kind": task.subject.kind,
        "subject_ref": task.subject.ref,
        "incident_id": task.incident_id,
        "incident_version": task.incident_version,
        "group_id": task.group_id,
        "group_alias": group.alias,
        "municipality": incident.municipality,
        "police_area": incident.police_area,
        "incident_type": incident.incident_type,
        "outcome": incident.outcome,
        "occurred_at": incident.occurred_at,
        "created_at": task.created_at,
        "policy_version": task.policy_version,
        "rule_id": task.rule_id,
        "status_reason": task.status_reason,
        "narrative": incident.narrative,
        "attributions": tuple(
            {
                "group_id": attribution.group_id,
                "confidence": attribution.confidence,
                "attributed_by": attribution.attributed_by,
                "basis": attribution.basis,
            }
            for attribution in incident.attributions
        ),
        "focus_person_refs": incident.focus_person_refs,
        "group_member_refs": tuple(member.person_ref for member in group.members),
    }


def visible_fields(policy: Policy, recipient_id: str) -> frozenset[str]:
    """The fields a recipient sees; partners never see police-only fields, whatever they list."""
    recipient = policy.recipient(recipient_id)
    allowed = ALWAYS_VISIBLE_FIELDS | frozenset(recipient.fields)
    if recipient.side is Side.PARTNER:
        allowed -= POLICE_ONLY_FIELDS
    return allowed


def project_task(
    task: SanctionTask,
    incident: IncidentReported | IncidentCorrected,
    group: GroupProfile,
    policy: Policy,
) -> RecipientTaskView:
    """Build the view of `task` that its recipient may see."""
    if task.incident_id != incident.incident_id or task.group_id != group.group_id:
        raise ValueError(f"task {task.task_id} does not belong to this incident and group")
    allowed = visible_fields(policy, task.recipient)
    available = _available_fields(task, incident, group)
    return RecipientTaskView.model_validate(
        {name: value for name, value in available.items() if name in allowed}
    )


NOT_DISCLOSURES = frozenset({"kind_of_message", "schema_version"})


def disclosed_fields(view: RecipientTaskView) -> tuple[str, ...]:
    """The names of the fields a view discloses, for the audit record."""
    return tuple(
        sorted(
            name
            for name in view.model_fields_set
            if getattr(view, name) is not None and name not in NOT_DISCLOSURES
        )
    )


def refresh_view(view: RecipientTaskView, task: SanctionTask, policy: Policy) -> RecipientTaskView:
    """The recipient's view after a status change, within the same allowlist."""
    update: dict[str, Any] = {"status": task.status}
    if "status_reason" in visible_fields(policy, task.recipient):
        update["status_reason"] = task.status_reason
    return view.model_copy(update=update)

"""Per-recipient projection: the task as its recipient may see it, by that recipient's allowlist."""

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.common import built
from schemas.group import GroupProfile
from schemas.incident import IncidentCorrected, IncidentReported, IncidentType, Outcome
from schemas.task import RecipientTaskView, SanctionTask
from workers.core.policy import ALWAYS_VISIBLE_FIELDS, POLICE_ONLY_FIELDS, Policy, Side


class TaskContext(BaseModel):
    """What a recipient's view holds beyond the task itself: facts of the incident and the
    group, only those the recipient may see. Kept with the task instead of a second copy of
    the view (a task record is about half the size)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_alias: str | None = None
    municipality: str | None = None
    police_area: str | None = None
    incident_type: IncidentType | None = None
    outcome: Outcome | None = None
    occurred_at: datetime | None = None
    narrative: str | None = None
    attributions: tuple[dict[str, str | float], ...] | None = None
    focus_person_refs: tuple[str, ...] | None = None
    group_member_refs: tuple[str, ...] | None = None


def _task_fields(task: SanctionTask) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "recipient": task.recipient,
        "action": task.action,
        "title": task.title,
        "legal_basis": task.legal_basis,
        "deadline": task.deadline,
        "status": task.status,
        "partnership": task.partnership,
        "kind": task.kind,
        "priority": task.priority,
        "reason": task.reason,
        "subject_kind": task.subject.kind,
        "subject_ref": task.subject.ref,
        "incident_id": task.incident_id,
        "incident_version": task.incident_version,
        "group_id": task.group_id,
        "created_at": task.created_at,
        "policy_version": task.policy_version,
        "rule_id": task.rule_id,
        "status_reason": task.status_reason,
    }


def _context_fields(
    incident: IncidentReported | IncidentCorrected, group: GroupProfile
) -> dict[str, Any]:
    return {
        "group_alias": group.alias,
        "municipality": incident.municipality,
        "police_area": incident.police_area,
        "incident_type": incident.incident_type,
        "outcome": incident.outcome,
        "occurred_at": incident.occurred_at,
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


_VISIBLE: dict[tuple[int, str], tuple[Policy, frozenset[str]]] = {}
"""`visible_fields` by playbook (its identity, kept alive with the entry) and recipient."""


def visible_fields(policy: Policy, recipient_id: str) -> frozenset[str]:
    """The fields a recipient sees; partners never see police-only fields, whatever they list."""
    known = _VISIBLE.get((id(policy), recipient_id))
    if known is not None and known[0] is policy:
        return known[1]
    if len(_VISIBLE) >= 4096:
        _VISIBLE.clear()
    allowed = _visible_fields(policy, recipient_id)
    _VISIBLE[(id(policy), recipient_id)] = (policy, allowed)
    return allowed


def _visible_fields(policy: Policy, recipient_id: str) -> frozenset[str]:
    recipient = policy.recipient(recipient_id)
    allowed = ALWAYS_VISIBLE_FIELDS | frozenset(recipient.fields)
    if recipient.side is Side.PARTNER:
        allowed -= POLICE_ONLY_FIELDS
    return allowed


def context_for(
    task: SanctionTask,
    incident: IncidentReported | IncidentCorrected,
    group: GroupProfile,
    policy: Policy,
) -> TaskContext:
    """The incident's and group's facts that `task`'s recipient may see."""
    return contexts_for((task,), incident, group, policy)[0]


def contexts_for(
    tasks: Iterable[SanctionTask],
    incident: IncidentReported | IncidentCorrected,
    group: GroupProfile,
    policy: Policy,
) -> list[TaskContext]:
    """`context_for` of each task of one incident and group: the facts gathered once, and one
    context per set of visible fields (tasks for the same recipient share it)."""
    facts = _context_fields(incident, group)
    by_fields: dict[frozenset[str], TaskContext] = {}
    contexts = []
    for task in tasks:
        if task.incident_id != incident.incident_id or task.group_id != group.group_id:
            raise ValueError(f"task {task.task_id} does not belong to this incident and group")
        allowed = visible_fields(policy, task.recipient)
        context = by_fields.get(allowed)
        if context is None:
            context = by_fields[allowed] = TaskContext.model_validate(
                {k: v for k, v in facts.items() if k in allowed}
            )
        contexts.append(context)
    return contexts


def view_of(task: SanctionTask, context: TaskContext, policy: Policy) -> RecipientTaskView:
    """The view of `task` in its current state that its recipient may see: built from the
    validated task and context, not validated again."""
    allowed = visible_fields(policy, task.recipient)
    available = {**_task_fields(task), **_dumped(context)}
    return built(
        RecipientTaskView, **{name: value for name, value in available.items() if name in allowed}
    )


_DUMPED: dict[int, tuple[TaskContext, dict[str, Any]]] = {}


def _dumped(context: TaskContext) -> dict[str, Any]:
    """A context's fields, dumped once per context object (the tasks of a group's recipients
    with the same allowlist share one); the result is only read."""
    kept = _DUMPED.get(id(context))
    if kept is not None and kept[0] is context:
        return kept[1]
    if len(_DUMPED) >= 256:
        _DUMPED.clear()
    fields = context.model_dump(exclude_none=True)
    _DUMPED[id(context)] = (context, fields)
    return fields


def project_task(
    task: SanctionTask,
    incident: IncidentReported | IncidentCorrected,
    group: GroupProfile,
    policy: Policy,
) -> RecipientTaskView:
    """Build the view of `task` that its recipient may see."""
    return view_of(task, context_for(task, incident, group, policy), policy)


NOT_DISCLOSURES = frozenset({"kind_of_message", "schema_version"})


@functools.lru_cache(maxsize=256)
def _disclosable(fields_set: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(fields_set - NOT_DISCLOSURES))


def disclosed_fields(view: RecipientTaskView) -> tuple[str, ...]:
    """The names of the fields a view discloses, for the audit record."""
    names = _disclosable(frozenset(view.model_fields_set))
    values = view.__dict__
    return tuple(name for name in names if values[name] is not None)

"""Plain-language rendering of a planning decision for `gvi-sanctions policy explain`."""

from datetime import datetime, timedelta

from schemas.decision import Decision
from schemas.incident import IncidentCorrected, IncidentReported
from workers.core.policy import Policy


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def _delay(start: datetime, end: datetime) -> str:
    return _duration(end - start)


def partnership_of(base: Policy, effective: Policy) -> list[str]:
    """The lines that name the partnership whose playbook applied, and its adaptations."""
    partnership = next((p for p in base.partnerships if p.id == effective.partnership), None)
    if partnership is None:
        return []
    adaptations = partnership.adaptations
    local = ", ".join(f"{role} → {r.id}" for role, r in partnership.local_recipients.items())
    national = (
        ", ".join(partnership.national_recipients)
        if partnership.national_recipients is not None
        else "all"
    )
    lines = [
        f"Partnership {partnership.id} ({partnership.name}): "
        f"{', '.join(partnership.municipalities)}",
        f"  - local recipients: {local or 'none'}; national recipients: {national}",
    ]
    changes = [
        *(f"rule {rule} turned off" for rule in adaptations.rules_off),
        *(
            f"deadline of {c.action} in {c.rule}: {_duration(c.deadline.delta)}"
            for c in adaptations.deadlines
        ),
        *(
            f"extra task {e.task.action} for {e.task.recipient} in {e.rule}"
            for e in adaptations.extra_tasks
        ),
        *(
            [f"reminders at {adaptations.reminder_share:.0%} of the time to the deadline"]
            if adaptations.reminder_share is not None
            else []
        ),
    ]
    lines.append(
        f"  - adaptations: {'; '.join(changes) if changes else 'none (the base playbook)'}"
    )
    return lines


def _duration(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 and hours >= 24 else f"{hours}h"


def render_decision(
    incident: IncidentReported | IncidentCorrected,
    decision: Decision,
    partnership: list[str] | None = None,
) -> str:
    """The decision and every task with its reason, as a supervisor would read it."""
    lines = [
        f"Incident {incident.incident_id} v{incident.version}: "
        f"{incident.incident_type.value}, outcome {incident.outcome.value}, "
        f"{incident.municipality} ({incident.police_area}), reported {_when(incident.reported_at)}",
        *(partnership or []),
        f"Policy {decision.policy_version}: {decision.outcome.value}, "
        f"{len(decision.tasks)} task(s)",
    ]
    lines.extend(f"  - {reason}" for reason in decision.reasons)
    for group in decision.groups:
        lines.append("")
        lines.append(
            f"Group {group.group_id}: tier {group.tier}, "
            f"rules {', '.join(group.matched_rules) or 'none'}"
        )
        lines.extend(f"  - {reason}" for reason in group.reasons)
        for task in group.tasks:
            lines.append("")
            lines.append(
                f"  [{task.kind.value}] {task.recipient}: {task.title} "
                f"({task.action}, {task.subject.kind.value} {task.subject.ref})"
            )
            lines.append(
                f"      due {_when(task.deadline)} (+{_delay(task.created_at, task.deadline)}), "
                f"priority {task.priority.value}"
            )
            lines.append(f"      why: {task.reason}")
            lines.append(f"      legal basis: {task.legal_basis}")
            lines.append(f"      rule {task.rule_id}, task id {task.task_id}")
    return "\n".join(lines) + "\n"

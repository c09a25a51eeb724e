"""Plain-language rendering of a planning decision for `gvi-sanctions policy explain`."""

from datetime import datetime

from schemas.decision import Decision
from schemas.incident import IncidentCorrected, IncidentReported


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def _delay(start: datetime, end: datetime) -> str:
    hours = int((end - start).total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 and hours >= 24 else f"{hours}h"


def render_decision(incident: IncidentReported | IncidentCorrected, decision: Decision) -> str:
    """The decision and every task with its reason, as a supervisor would read it."""
    lines = [
        f"Incident {incident.incident_id} v{incident.version}: "
        f"{incident.incident_type.value}, outcome {incident.outcome.value}, "
        f"{incident.municipality} ({incident.police_area}), reported {_when(incident.reported_at)}",
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

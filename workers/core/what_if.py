"""The policy what-if: past incidents replayed through the pure planner under the current and a
proposed policy, and per incident the tasks that would be added, dropped or changed."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from schemas.group import GroupProfile
from schemas.history import GroupHistory
from schemas.incident import IncidentCorrected, IncidentReported
from schemas.task import SanctionTask
from workers.core.partnerships import UnknownPartnership, policy_for_incident
from workers.core.planner import UnknownGroup, history_entry, plan, with_entry
from workers.core.policy import Policy

Planned = IncidentReported | IncidentCorrected
TaskKey = tuple[str, str, str, str]
"""What makes two tasks under two policies the same step: group, recipient, action, subject."""
COMPARED = ("kind", "priority", "title", "legal_basis")


@dataclass(frozen=True)
class TaskChange:
    """One step both policies take, done differently."""

    before: SanctionTask
    after: SanctionTask
    fields: tuple[str, ...]


@dataclass(frozen=True)
class IncidentDiff:
    """What the proposed policy would do differently for one incident."""

    incident_id: str
    added: tuple[SanctionTask, ...] = ()
    dropped: tuple[SanctionTask, ...] = ()
    changed: tuple[TaskChange, ...] = ()
    note: str | None = None

    @property
    def differs(self) -> bool:
        return bool(self.added or self.dropped or self.changed)


@dataclass(frozen=True)
class WhatIf:
    """Per incident the differences; per recipient the totals."""

    current_version: str
    proposed_version: str
    incidents: int
    diffs: tuple[IncidentDiff, ...]
    totals: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def key_of(task: SanctionTask) -> TaskKey:
    return (task.group_id, task.recipient, task.action, f"{task.subject.kind}:{task.subject.ref}")


def replay(
    incidents: Iterable[Planned], groups: Mapping[str, GroupProfile], policy: Policy
) -> dict[str, tuple[SanctionTask, ...] | str]:
    """Plan each incident in the order it happened, each group's history growing as the worker's
    does; an incident that cannot be planned gives the reason instead of tasks."""
    histories: dict[str, GroupHistory] = {}
    planned: dict[str, tuple[SanctionTask, ...] | str] = {}
    for incident in sorted(incidents, key=lambda i: (i.occurred_at, i.incident_id)):
        try:
            effective = policy_for_incident(policy, incident)
            decision = plan(incident, groups, histories, effective)
        except (UnknownGroup, UnknownPartnership) as refused:
            planned[incident.incident_id] = str(refused)
            continue
        for group in decision.groups:
            history = histories.get(group.group_id) or GroupHistory(group_id=group.group_id)
            entry = history_entry(incident, group)
            histories[group.group_id] = with_entry(history, entry, effective)
        planned[incident.incident_id] = tuple(decision.tasks)
    return planned


def compare(
    incidents: Iterable[Planned],
    groups: Mapping[str, GroupProfile],
    current: Policy,
    proposed: Policy,
) -> WhatIf:
    """Replay under both policies and compare the tasks of each incident step by step."""
    chosen = list(incidents)
    before, after = replay(chosen, groups, current), replay(chosen, groups, proposed)
    diffs: list[IncidentDiff] = []
    totals: dict[str, Counter[str]] = {}
    for incident in sorted(chosen, key=lambda i: (i.occurred_at, i.incident_id)):
        old, new = before[incident.incident_id], after[incident.incident_id]
        if isinstance(old, str) or isinstance(new, str):
            note = old if isinstance(old, str) else new
            diffs.append(IncidentDiff(incident.incident_id, note=str(note)))
            continue
        diff = _diff(incident.incident_id, old, new)
        diffs.append(diff)
        for task in diff.added:
            totals.setdefault(task.recipient, Counter())["added"] += 1
        for task in diff.dropped:
            totals.setdefault(task.recipient, Counter())["dropped"] += 1
        for change in diff.changed:
            totals.setdefault(change.after.recipient, Counter())["changed"] += 1
    return WhatIf(
        current_version=current.policy_version,
        proposed_version=proposed.policy_version,
        incidents=len(chosen),
        diffs=tuple(diffs),
        totals={recipient: dict(counts) for recipient, counts in sorted(totals.items())},
    )


def _diff(
    incident_id: str, old: tuple[SanctionTask, ...], new: tuple[SanctionTask, ...]
) -> IncidentDiff:
    before = {key_of(task): task for task in old}
    after = {key_of(task): task for task in new}
    changed: list[TaskChange] = []
    for key in sorted(before.keys() & after.keys()):
        was, becomes = before[key], after[key]
        fields = [name for name in COMPARED if getattr(was, name) != getattr(becomes, name)]
        if _allowed_time(was) != _allowed_time(becomes):
            fields.append("deadline")
        if fields:
            changed.append(TaskChange(was, becomes, tuple(fields)))
    return IncidentDiff(
        incident_id,
        added=tuple(after[key] for key in sorted(after.keys() - before.keys())),
        dropped=tuple(before[key] for key in sorted(before.keys() - after.keys())),
        changed=tuple(changed),
    )


def _allowed_time(task: SanctionTask) -> timedelta:
    return task.deadline - task.created_at

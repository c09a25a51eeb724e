"""The planner: incident, group, history and policy → tasks with reasons; diffs on a change."""

import uuid
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from operator import attrgetter
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from schemas.common import amended, built
from schemas.decision import Decision, DecisionOutcome, GroupDecision
from schemas.group import GroupMember, GroupProfile
from schemas.history import HISTORY_ORDER, GroupHistory, HistoryEntry
from schemas.incident import Attribution, IncidentCorrected, IncidentReported, IncidentRetracted
from schemas.rejection import Refused, RejectionCode
from schemas.task import SanctionTask, SubjectKind, TaskKind, TaskSubject
from workers.core.ids import uuid5
from workers.core.policy import MemberCondition, Policy, Rule, SubjectScope, TaskTemplate

TASK_ID_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")

IncidentFacts = IncidentReported | IncidentCorrected


class UnknownGroup(Refused):
    """An attribution names a group that the registry does not hold."""

    code = RejectionCode.UNKNOWN_GROUP

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        super().__init__(f"attributed group {group_id!r} is not in the group registry")


def task_id_for(
    incident_id: str,
    rule_id: str,
    action: str,
    group_id: str,
    subject_ref: str,
    partnership: str | None = None,
) -> uuid.UUID:
    """The deterministic id of a task: uuid5 over incident, rule, action and subject, and the
    partnership when the playbook has partnerships (a correction that moves the incident to
    another municipality's partnership cancels the first one's tasks and plans new ones).

    The subject is qualified by its group: one person may be attributed through two groups.
    """
    parts: tuple[str, ...] = (incident_id, rule_id, action, group_id, subject_ref)
    if partnership is not None:
        parts = (*parts, partnership)
    name = "\x1f".join(parts)
    return uuid5(TASK_ID_NAMESPACE, name)


def qualifying_attributions(incident: IncidentFacts, policy: Policy) -> tuple[Attribution, ...]:
    """The attributions at or above the policy's confidence threshold, in the incident's order."""
    return tuple(a for a in incident.attributions if a.confidence >= policy.confidence_threshold)


_OCCURRED_AT = attrgetter("occurred_at")
_INCIDENT_ID = attrgetter("incident_id")


def tier_for(incident: IncidentFacts, history: GroupHistory | None, policy: Policy) -> int:
    """1 for the first sanctioned violence in the window; one above the highest tier within it."""
    if history is None:
        return 1
    occurred_at = incident.occurred_at.astimezone(UTC)
    window_start = occurred_at - timedelta(days=policy.repeat_window_days)
    entries = history.entries
    start = bisect_left(entries, window_start, key=_OCCURRED_AT)
    end = bisect_left(entries, occurred_at, lo=start, key=_OCCURRED_AT)
    highest = 0
    for index in range(end - 1, start - 1, -1):
        entry = entries[index]
        if (
            entry.tier is not None
            and entry.tier > highest
            and entry.incident_id != incident.incident_id
        ):
            highest = entry.tier
            if highest + 1 >= policy.max_tier:
                break
    return min(highest + 1, policy.max_tier) if highest else 1


def _rule_matches(rule: Rule, incident: IncidentFacts, notified: bool, tier: int) -> bool:
    condition = rule.when
    return (
        (condition.incident_types is None or incident.incident_type in condition.incident_types)
        and (condition.outcomes is None or incident.outcome in condition.outcomes)
        and (condition.notified is None or condition.notified == notified)
        and (condition.tiers is None or tier in condition.tiers)
    )


def _member_qualifies(member: GroupMember, condition: MemberCondition | None) -> bool:
    if condition is None:
        return True
    if condition.supervision is not None and member.supervision not in condition.supervision:
        return False
    return condition.flags_any is None or bool(set(member.flags) & set(condition.flags_any))


def _subjects(template: TaskTemplate, group: GroupProfile) -> list[TaskSubject]:
    if template.subject is SubjectScope.GROUP:
        return [TaskSubject(kind=SubjectKind.GROUP, ref=group.group_id)]
    return [
        TaskSubject(kind=SubjectKind.MEMBER, ref=member.person_ref)
        for member in group.members
        if _member_qualifies(member, template.members)
    ]


def _reason(template: TaskTemplate, incident: IncidentFacts, group: GroupProfile, tier: int) -> str:
    text = template.reason.format_map(
        {
            "group_alias": group.alias,
            "group_id": group.group_id,
            "incident_type": incident.incident_type.value.replace("_", " "),
            "outcome": incident.outcome.value,
            "tier": tier,
            "municipality": incident.municipality,
        }
    )
    return " ".join(text.split())


def decide_for_group(
    incident: IncidentFacts, group: GroupProfile, history: GroupHistory | None, policy: Policy
) -> GroupDecision:
    """The tasks one attributed group's violence brings under the policy, with the reasons."""
    notified = group.notified_before(incident.occurred_at)
    tier = tier_for(incident, history, policy) if notified else 0
    matched = [rule for rule in policy.rules if _rule_matches(rule, incident, notified, tier)]
    reasons: list[str] = [
        f"group {group.group_id} ({group.alias}) was "
        + ("notified before the incident" if notified else "never notified before the incident"),
    ]
    if notified:
        reasons.append(f"response tier {tier} (repeat window {policy.repeat_window_days} days)")
    tasks: list[SanctionTask] = []
    for rule in matched:
        reasons.append(f"rule {rule.id}: {' '.join(rule.description.split())}")
        for template in rule.tasks:
            for subject in _subjects(template, group):
                tasks.append(
                    SanctionTask(
                        task_id=task_id_for(
                            incident.incident_id,
                            rule.id,
                            template.action,
                            group.group_id,
                            subject.ref,
                            policy.partnership,
                        ),
                        incident_id=incident.incident_id,
                        incident_version=incident.version,
                        group_id=group.group_id,
                        recipient=template.recipient,
                        kind=template.kind,
                        action=template.action,
                        title=template.title,
                        subject=subject,
                        legal_basis=template.legal_basis,
                        priority=template.priority,
                        created_at=incident.reported_at,
                        deadline=incident.reported_at + template.deadline.delta,
                        policy_version=policy.policy_version,
                        rule_id=rule.id,
                        tier=tier,
                        reason=_reason(template, incident, group, tier),
                        partnership=policy.partnership,
                    )
                )
    if not matched:
        reasons.append(
            f"no rule of policy {policy.policy_version} applies to a "
            f"{incident.incident_type.value} at tier {tier}"
        )
    return GroupDecision(
        group_id=group.group_id,
        notified=notified,
        tier=tier,
        matched_rules=tuple(rule.id for rule in matched),
        reasons=tuple(reasons),
        tasks=tuple(tasks),
    )


def plan(
    incident: IncidentFacts,
    groups: Mapping[str, GroupProfile],
    histories: Mapping[str, GroupHistory],
    policy: Policy,
) -> Decision:
    """Decide an incident; raises UnknownGroup when a qualifying attribution names no group."""
    qualifying = qualifying_attributions(incident, policy)
    reasons: list[str] = []
    if not incident.attributions:
        reasons.append("the incident is not attributed to any group")
    for attribution in incident.attributions:
        if attribution.confidence < policy.confidence_threshold:
            reasons.append(
                f"attribution to group {attribution.group_id} has confidence "
                f"{attribution.confidence:.2f}, "
                f"below the threshold {policy.confidence_threshold:.2f}"
            )
    group_decisions: list[GroupDecision] = []
    for attribution in qualifying:
        group = groups.get(attribution.group_id)
        if group is None:
            raise UnknownGroup(attribution.group_id)
        group_decisions.append(
            decide_for_group(incident, group, histories.get(attribution.group_id), policy)
        )
    has_tasks = any(decision.tasks for decision in group_decisions)
    if not has_tasks:
        reasons.append("no tasks follow")
    return Decision(
        incident_id=incident.incident_id,
        incident_version=incident.version,
        policy_version=policy.policy_version,
        partnership=policy.partnership,
        decided_at=incident.reported_at,
        outcome=DecisionOutcome.TASKS if has_tasks else DecisionOutcome.NO_ACTION,
        reasons=tuple(reasons),
        groups=tuple(group_decisions),
    )


class PlanItem(Protocol):
    """What the planner needs of a task it planned before: a full task or a `PlannedTask`."""

    @property
    def task_id(self) -> uuid.UUID: ...
    @property
    def incident_id(self) -> str: ...
    @property
    def group_id(self) -> str: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject_ref(self) -> str: ...
    @property
    def is_open(self) -> bool: ...


class PlannedTask(BaseModel):
    """A planned task as the planner keeps it: enough to diff and cancel, a few dozen bytes, so
    that a group's plan stays small however many members it has (the task agent keeps the rest).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: uuid.UUID
    incident_id: str
    group_id: str
    rule_id: str
    action: str
    subject_ref: str

    @property
    def is_open(self) -> bool:
        return True  # a task leaves the plan when it is cancelled

    @classmethod
    def of(cls, item: PlanItem) -> "PlannedTask":
        if isinstance(item, PlannedTask):
            return item
        return built(
            cls,
            task_id=item.task_id,
            incident_id=item.incident_id,
            group_id=item.group_id,
            rule_id=item.rule_id,
            action=item.action,
            subject_ref=item.subject_ref,
        )


@dataclass(frozen=True)
class Cancellation:
    """A task that a later version of the incident no longer calls for, and why."""

    task: PlanItem
    reason: str


@dataclass(frozen=True)
class PlanDiff:
    """What changes when an incident is corrected or retracted."""

    cancel: tuple[Cancellation, ...]
    add: tuple[SanctionTask, ...]
    keep: tuple[PlanItem, ...]

    def remaining(self) -> tuple[PlannedTask, ...]:
        """The plan after the change, compact."""
        return tuple(PlannedTask.of(item) for item in (*self.keep, *self.add))

    @property
    def is_empty(self) -> bool:
        return not self.cancel and not self.add


def _cancel_reason(task: PlanItem, decision: Decision) -> str:
    version = decision.incident_version
    groups = {group.group_id: group for group in decision.groups}
    if task.group_id not in groups:
        return (
            f"incident {task.incident_id} version {version} no longer attributes it to group "
            f"{task.group_id} at or above the confidence threshold"
        )
    group = groups[task.group_id]
    if task.rule_id not in group.matched_rules:
        return (
            f"rule {task.rule_id} no longer applies to incident {task.incident_id} "
            f"version {version} "
            f"(tier {group.tier}, rules now: {', '.join(group.matched_rules) or 'none'})"
        )
    return (
        f"subject {task.subject_ref} no longer qualifies for {task.action} under rule "
        f"{task.rule_id} after version {version}"
    )


def diff_decision(current: Iterable[PlanItem], decision: Decision) -> PlanDiff:
    """Compare the tasks already created for an incident with the decision for its new version."""
    current_by_id = {task.task_id: task for task in current}
    wanted = {task.task_id: task for task in decision.tasks}
    cancel = tuple(
        Cancellation(task=task, reason=_cancel_reason(task, decision))
        for task_id, task in current_by_id.items()
        if task_id not in wanted and task.is_open
    )
    add = tuple(task for task_id, task in wanted.items() if task_id not in current_by_id)
    keep = tuple(task for task_id, task in current_by_id.items() if task_id in wanted)
    return PlanDiff(cancel=cancel, add=add, keep=keep)


def diff_retraction(current: Iterable[PlanItem], retraction: IncidentRetracted) -> PlanDiff:
    """A retraction cancels every open task of the incident."""
    tasks = tuple(current)
    reason = (
        f"incident {retraction.incident_id} retracted "
        f"(version {retraction.version}): {retraction.reason}"
    )
    return PlanDiff(
        cancel=tuple(Cancellation(task=task, reason=reason) for task in tasks if task.is_open),
        add=(),
        keep=tuple(task for task in tasks if not task.is_open),
    )


def replan_group(
    incident: IncidentFacts,
    group_id: str,
    group: GroupProfile | None,
    history: GroupHistory | None,
    policy: Policy,
    attributed: bool,
    current: Iterable[PlanItem],
) -> tuple[GroupDecision | None, PlanDiff]:
    """One group's part of a (new version of an) incident: its decision and the diff to apply.

    A group that is no longer attributed needs no profile: its open tasks are cancelled.
    """
    if attributed and group is None:
        raise UnknownGroup(group_id)
    decision = (
        decide_for_group(incident, group, history, policy)
        if attributed and group is not None
        else None
    )
    wanted = Decision(
        incident_id=incident.incident_id,
        incident_version=incident.version,
        policy_version=policy.policy_version,
        decided_at=incident.reported_at,
        outcome=DecisionOutcome.TASKS if decision and decision.tasks else DecisionOutcome.NO_ACTION,
        reasons=(),
        groups=(decision,) if decision is not None else (),
    )
    return decision, diff_decision(current, wanted)


def history_entry(incident: IncidentFacts, decision: GroupDecision) -> HistoryEntry:
    """The record of this incident in the group's history; a tier only when sanctions followed."""
    sanctioned = any(task.kind is TaskKind.SANCTION for task in decision.tasks)
    return HistoryEntry(
        incident_id=incident.incident_id,
        occurred_at=incident.occurred_at,
        incident_type=incident.incident_type,
        tier=decision.tier if sanctioned and decision.tier >= 1 else None,
    )


HISTORY_CAP = 200
"""Entries kept per group; the tier looks back `repeat_window_days`, so older ones are dropped
first. Keeps the group's record bounded however long its history."""


GROUPS_INDEXED = 256
"""Groups whose latest history keeps the set of its incident ids (a few kB each)."""
_INDEXED: dict[str, tuple[tuple[HistoryEntry, ...], frozenset[str]]] = {}
"""By group: its latest history's entries and their incident ids. Reading the id of each of 200
entries, scattered in memory, took 40–140 µs at every incident; the set is carried over."""


def _incident_ids(history: GroupHistory) -> frozenset[str]:
    kept = _INDEXED.get(history.group_id)
    if kept is not None and kept[0] is history.entries:
        return kept[1]
    return frozenset(map(_INCIDENT_ID, history.entries))


def with_entry(history: GroupHistory, entry: HistoryEntry, policy: Policy) -> GroupHistory:
    """The group's history with this incident's entry added or replaced, compact and bounded:
    entries older than twice the repeat window before the newest one leave, then the oldest."""
    ids = _incident_ids(history)
    entries = list(history.entries)
    if entry.incident_id in ids:
        entries = [e for e in entries if e.incident_id != entry.incident_id]
    else:
        ids = ids | {entry.incident_id}
    insort(entries, entry, key=HISTORY_ORDER)
    horizon = entries[-1].occurred_at - timedelta(days=2 * policy.repeat_window_days)
    first = max(bisect_left(entries, horizon, key=_OCCURRED_AT), len(entries) - HISTORY_CAP)
    if first > 0:
        ids = ids.difference(map(_INCIDENT_ID, entries[:first]))
    kept = amended(history, entries=tuple(entries[first:]))
    if len(ids) != len(kept.entries):
        # A history read from elsewhere can name an incident twice: no set then.
        _INDEXED.pop(history.group_id, None)
        return kept
    if len(_INDEXED) >= GROUPS_INDEXED and history.group_id not in _INDEXED:
        _INDEXED.clear()
    _INDEXED[history.group_id] = (kept.entries, ids)
    return kept


def without_incident(history: GroupHistory, incident_id: str) -> GroupHistory:
    """The group's history without an incident that was retracted or is no longer attributed to
    it: the violence was not this group's, so it must not raise the tier of its next incident."""
    entries = tuple(e for e in history.entries if e.incident_id != incident_id)
    return amended(history, entries=entries)

"""Which partnership an incident belongs to, and which published playbook is in force when."""

from dataclasses import dataclass, field
from datetime import datetime

from schemas.incident import IncidentCorrected, IncidentReported
from schemas.rejection import Refused, RejectionCode
from schemas.task import SanctionTask
from workers.core.policy import Partnership, Policy, effective_policy, municipality_key

IncidentFacts = IncidentReported | IncidentCorrected


class UnknownPartnership(Refused):
    """An incident in a municipality that no partnership of the playbook covers: it is not
    planned with somebody else's playbook."""

    code = RejectionCode.UNKNOWN_PARTNERSHIP

    def __init__(self, municipality: str, policy: Policy) -> None:
        known = ", ".join(sorted(m for p in policy.partnerships for m in p.municipalities))
        super().__init__(
            f"no GVI partnership of playbook {policy.policy_version} covers the municipality "
            f"{municipality!r} (covered: {known})"
        )


def partnership_for(policy: Policy, municipality: str) -> Partnership | None:
    """The partnership whose municipalities include `municipality` (case and spacing ignored)."""
    wanted = municipality_key(municipality)
    for partnership in policy.partnerships:
        if any(municipality_key(name) == wanted for name in partnership.municipalities):
            return partnership
    return None


def policy_for_incident(policy: Policy, incident: IncidentFacts) -> Policy:
    """The effective playbook for an incident: the base itself when the playbook has no
    partnerships, else its municipality's partnership's; raises UnknownPartnership."""
    if not policy.partnerships:
        return policy
    partnership = partnership_for(policy, incident.municipality)
    if partnership is None:
        raise UnknownPartnership(incident.municipality, policy)
    return effective_policy(policy, partnership)


@dataclass(frozen=True)
class PublishedPolicy:
    """One playbook version as published on `gvi.policies`: in force from `effective_from`
    until a later version's; `sequence` (the topic offset) orders two with the same time."""

    policy: Policy
    effective_from: datetime
    sequence: int = 0


@dataclass
class PolicyBook:
    """Every playbook version a worker knows, the fallback (the configured file) in force
    from the beginning of time; every worker that has read the same topic chooses alike."""

    fallback: Policy
    published: list[PublishedPolicy] = field(default_factory=list)
    _effective: dict[str, Policy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index(self.fallback)
        for entry in self.published:
            self._index(entry.policy)

    def add(self, entry: PublishedPolicy) -> bool:
        """Take a published version; False when that version is already known."""
        if any(e.policy.policy_version == entry.policy.policy_version for e in self.published):
            return False
        self.published.append(entry)
        self.published.sort(key=lambda e: (e.effective_from, e.sequence))
        self._index(entry.policy)
        return True

    def _index(self, policy: Policy) -> None:
        self._effective[policy.policy_version] = policy
        for partnership in policy.partnerships:
            effective = effective_policy(policy, partnership)
            self._effective[effective.policy_version] = effective

    def in_force(self, at: datetime) -> Policy:
        """The newest version whose `effective_from` is not after `at`; else the fallback."""
        chosen = self.fallback
        for entry in self.published:
            if entry.effective_from <= at:
                chosen = entry.policy
        return chosen

    def base(self, version: str | None, at: datetime) -> Policy:
        """The base playbook of `version` when known, else the one in force at `at`."""
        if version is not None:
            policy = self._effective.get(version)
            if policy is not None and policy.partnership is None:
                return policy
        return self.in_force(at)

    def for_incident(self, incident: IncidentFacts, planned_with: str | None = None) -> Policy:
        """The effective playbook that plans `incident`: the version in force at its
        `reported_at`, or `planned_with` (the version that planned its first report)."""
        base = self.base(planned_with, incident.reported_at)
        if not base.partnerships:
            return base
        partnership = partnership_for(base, incident.municipality)
        if partnership is None:
            raise UnknownPartnership(incident.municipality, base)
        indexed = self._effective.get(f"{base.policy_version}:{partnership.id}")
        return indexed if indexed is not None else effective_policy(base, partnership)

    def effective(self, version: str) -> Policy | None:
        return self._effective.get(version)

    def for_task(self, task: SanctionTask) -> Policy:
        """The effective playbook that planned a task (its recipients' allowlists, its
        reminders); a version this worker has not read falls back to the configured one."""
        known = self._effective.get(task.policy_version)
        if known is not None:
            return known
        fallback = self.fallback
        for partnership in fallback.partnerships:
            if partnership.id == task.partnership:
                return effective_policy(fallback, partnership)
        return fallback

    def earliest_reminder_share(self) -> float | None:
        """The smallest reminder share of any known effective playbook (None: no reminders)."""
        shares = [p.reminder_share for p in self._effective.values() if p.reminder_share]
        return min(shares) if shares else None

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(e.policy.policy_version for e in self.published)

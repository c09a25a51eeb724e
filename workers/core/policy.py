"""The versioned sanction playbook: its model and a loader whose errors name the offending entry."""

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import FlagName, Identifier, RecipientId, ShortText, Text
from schemas.group import SupervisionStatus
from schemas.incident import IncidentType, Outcome
from schemas.task import Priority, TaskKind

POLICE_ONLY_FIELDS = frozenset(
    {"narrative", "attributions", "focus_person_refs", "group_member_refs"}
)
"""Fields that never leave the police side, whatever a partner's allowlist says."""

ALWAYS_VISIBLE_FIELDS = frozenset(
    {"task_id", "recipient", "action", "title", "legal_basis", "deadline", "status", "partnership"}
)
OPTIONAL_FIELDS = frozenset(
    {
        "kind",
        "priority",
        "reason",
        "subject_kind",
        "subject_ref",
        "incident_id",
        "incident_version",
        "group_id",
        "group_alias",
        "municipality",
        "police_area",
        "incident_type",
        "outcome",
        "occurred_at",
        "created_at",
        "policy_version",
        "rule_id",
        "status_reason",
    }
    | POLICE_ONLY_FIELDS
)

REASON_PLACEHOLDERS = frozenset(
    {"group_alias", "group_id", "incident_type", "outcome", "tier", "municipality"}
)


class _PolicyModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Side(StrEnum):
    """Which side of the information boundary a recipient stands on."""

    POLICE = "police"
    PARTNER = "partner"


class SubjectScope(StrEnum):
    """Whether a task template yields one task for the group or one per qualifying member."""

    GROUP = "group"
    EACH_MEMBER = "each_member"


class Scope(StrEnum):
    """A national authority is one recipient for every partnership; a local role (a
    municipality's social services, a local police area) is one recipient per partnership."""

    NATIONAL = "national"
    LOCAL = "local"


class Recipient(_PolicyModel):
    """A recipient of tasks and the fields it may see."""

    id: RecipientId
    name: ShortText
    side: Side
    scope: Scope = Scope.NATIONAL
    fields: tuple[Identifier, ...] = ()


class Duration(_PolicyModel):
    """A deadline offset; at least one part, none negative."""

    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=24 * 365)

    @model_validator(mode="after")
    def _positive(self) -> "Duration":
        if self.days == 0 and self.hours == 0:
            raise ValueError("a deadline must be later than the moment the task is created")
        return self

    @property
    def delta(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


class MemberCondition(_PolicyModel):
    """Which members a per-member task applies to; every given part must hold."""

    supervision: tuple[SupervisionStatus, ...] | None = None
    flags_any: tuple[FlagName, ...] | None = None


class TaskTemplate(_PolicyModel):
    """One task that a rule creates, for the group or for each qualifying member."""

    recipient: RecipientId
    kind: TaskKind
    action: Identifier
    title: ShortText
    subject: SubjectScope
    members: MemberCondition | None = None
    deadline: Duration
    priority: Priority
    legal_basis: ShortText
    reason: Text

    @model_validator(mode="after")
    def _members_only_per_member(self) -> "TaskTemplate":
        if self.members is not None and self.subject is SubjectScope.GROUP:
            raise ValueError("'members' applies only when subject is each_member")
        return self


class RuleCondition(_PolicyModel):
    """When a rule applies; an absent part matches anything."""

    incident_types: tuple[IncidentType, ...] | None = None
    outcomes: tuple[Outcome, ...] | None = None
    notified: bool | None = None
    tiers: tuple[Annotated[int, Field(ge=1, le=10)], ...] | None = None


class Rule(_PolicyModel):
    """A rule of the playbook: a condition and the tasks it brings."""

    id: Identifier
    description: Text
    when: RuleCondition
    tasks: tuple[TaskTemplate, ...] = Field(min_length=1)


class LocalRecipient(_PolicyModel):
    """The partnership's own recipient for a local role of the playbook."""

    id: RecipientId
    name: ShortText


class DeadlineChange(_PolicyModel):
    """Another deadline for one task of one rule."""

    rule: Identifier
    action: Identifier
    deadline: Duration


class ExtraTask(_PolicyModel):
    """A task that the partnership adds to one rule of the playbook."""

    rule: Identifier
    task: TaskTemplate


class Adaptations(_PolicyModel):
    """How a partnership adapts the base playbook to its own organisation."""

    rules_off: tuple[Identifier, ...] = ()
    deadlines: tuple[DeadlineChange, ...] = ()
    extra_tasks: tuple[ExtraTask, ...] = ()
    reminder_share: float | None = Field(default=None, gt=0.0, lt=1.0)


class Partnership(_PolicyModel):
    """A local GVI partnership (samverkan): where it works, its recipients, its adaptations."""

    id: RecipientId
    name: ShortText
    municipalities: tuple[ShortText, ...] = Field(min_length=1)
    police_areas: tuple[ShortText, ...] = ()
    local_recipients: dict[RecipientId, LocalRecipient] = Field(default_factory=dict)
    """Per local role of the playbook, this partnership's recipient; a role left out brings
    no tasks here."""
    national_recipients: tuple[RecipientId, ...] | None = None
    """The national authorities that take part; None: every national recipient."""
    adaptations: Adaptations = Adaptations()


class Policy(_PolicyModel):
    """The whole playbook, versioned, with the partnerships that adapt it."""

    policy_version: Identifier
    name: ShortText
    confidence_threshold: float = Field(ge=0.0, le=1.0)
    repeat_window_days: int = Field(ge=1, le=3650)
    max_tier: int = Field(ge=1, le=10)
    reminder_share: float | None = Field(default=0.75, gt=0.0, lt=1.0)
    """A reminder goes out when this share of a task's time to its deadline has passed (None:
    no reminders); the escalation follows at the deadline."""
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)
    partnerships: tuple[Partnership, ...] = ()
    partnership: RecipientId | None = None
    """Set on a partnership's effective playbook (base plus adaptations), never in a file."""

    @property
    def base_version(self) -> str:
        """The version of the base playbook (an effective playbook's minus its partnership)."""
        if self.partnership is None:
            return self.policy_version
        return self.policy_version.removesuffix(f":{self.partnership}")

    def recipient(self, recipient_id: str) -> Recipient:
        for recipient in self.recipients:
            if recipient.id == recipient_id:
                return recipient
        raise KeyError(recipient_id)

    @property
    def recipient_ids(self) -> tuple[str, ...]:
        """Every recipient with a task topic: without partnerships the playbook's own; with
        them the national ones and each partnership's local ones."""
        if not self.partnerships:
            return tuple(recipient.id for recipient in self.recipients)
        national = tuple(r.id for r in self.recipients if r.scope is Scope.NATIONAL)
        local = tuple(
            local.id
            for partnership in self.partnerships
            for local in partnership.local_recipients.values()
        )
        return national + local


class PolicyIssue(BaseModel):
    """One problem in a policy file, with the path of the offending entry."""

    model_config = ConfigDict(frozen=True)

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PolicyInvalid(Exception):
    """A policy that cannot be executed; `issues` names every offending entry."""

    def __init__(self, source: str, issues: list[PolicyIssue]) -> None:
        self.source = source
        self.issues = issues
        listing = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"policy {source} is invalid ({len(issues)} problem(s)):\n{listing}")


def effective_policy(policy: Policy, partnership: Partnership) -> Policy:
    """The playbook as `partnership` runs it: its local recipients in place of the local roles,
    the national ones that take part, its adaptations applied; versioned `<base>:<partnership>`.
    A task for a role the partnership does not bind (or a national authority it leaves out) is
    not planned there."""
    bound: dict[str, Recipient] = {}
    national = partnership.national_recipients
    for role in policy.recipients:
        local = partnership.local_recipients.get(role.id)
        if role.scope is Scope.LOCAL and local is not None:
            bound[role.id] = role.model_copy(update={"id": local.id, "name": local.name})
        elif role.scope is Scope.NATIONAL and (national is None or role.id in national):
            bound[role.id] = role
    adaptations = partnership.adaptations
    deadlines = {(change.rule, change.action): change.deadline for change in adaptations.deadlines}
    rules: list[Rule] = []
    for rule in policy.rules:
        if rule.id in adaptations.rules_off:
            continue
        extra = tuple(e.task for e in adaptations.extra_tasks if e.rule == rule.id)
        tasks = tuple(
            template.model_copy(
                update={
                    "recipient": bound[template.recipient].id,
                    "deadline": deadlines.get((rule.id, template.action), template.deadline),
                }
            )
            for template in (*rule.tasks, *extra)
            if template.recipient in bound
        )
        if tasks:
            rules.append(rule.model_copy(update={"tasks": tasks}))
    reminder_share = (
        adaptations.reminder_share
        if adaptations.reminder_share is not None
        else policy.reminder_share
    )
    return policy.model_copy(
        update={
            "policy_version": f"{policy.policy_version}:{partnership.id}",
            "recipients": tuple(bound.values()),
            "rules": tuple(rules),
            "reminder_share": reminder_share,
            "partnerships": (),
            "partnership": partnership.id,
        }
    )


def municipality_key(municipality: str) -> str:
    """A municipality's name as partnerships are matched on it: case and spacing ignored."""
    return " ".join(municipality.split()).casefold()

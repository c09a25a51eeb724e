"""The versioned sanction playbook: its model and a loader whose errors name the offending entry."""

import string
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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

DEFAULT_POLICY_PACKAGE = "workers.policies"
DEFAULT_POLICY_FILE = "default.yaml"


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


def _format_location(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _semantic_issues(policy: Policy) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    recipient_ids: set[str] = set()
    for index, recipient in enumerate(policy.recipients):
        where = f"recipients[{index}]"
        if recipient.id in recipient_ids:
            issues.append(
                PolicyIssue(path=f"{where}.id", message=f"duplicate recipient {recipient.id!r}")
            )
        recipient_ids.add(recipient.id)
        for field_index, field_name in enumerate(recipient.fields):
            field_where = f"{where}.fields[{field_index}]"
            if field_name in ALWAYS_VISIBLE_FIELDS:
                continue
            if field_name not in OPTIONAL_FIELDS:
                issues.append(
                    PolicyIssue(path=field_where, message=f"unknown field {field_name!r}")
                )
            elif recipient.side is Side.PARTNER and field_name in POLICE_ONLY_FIELDS:
                issues.append(
                    PolicyIssue(
                        path=field_where,
                        message=f"{field_name!r} never leaves the police side; "
                        "a partner recipient may not see it",
                    )
                )
    rule_ids: set[str] = set()
    for rule_index, rule in enumerate(policy.rules):
        where = f"rules[{rule_index}]"
        if rule.id in rule_ids:
            issues.append(PolicyIssue(path=f"{where}.id", message=f"duplicate rule id {rule.id!r}"))
        rule_ids.add(rule.id)
        for tier_index, tier in enumerate(rule.when.tiers or ()):
            if tier > policy.max_tier:
                issues.append(
                    PolicyIssue(
                        path=f"{where}.when.tiers[{tier_index}]",
                        message=f"tier {tier} is above max_tier {policy.max_tier}",
                    )
                )
        actions: set[str] = set()
        for task_index, template in enumerate(rule.tasks):
            task_where = f"{where}.tasks[{task_index}]"
            if template.recipient not in recipient_ids:
                issues.append(
                    PolicyIssue(
                        path=f"{task_where}.recipient",
                        message=f"unknown recipient {template.recipient!r}; "
                        f"known: {', '.join(sorted(recipient_ids))}",
                    )
                )
            if template.action in actions:
                issues.append(
                    PolicyIssue(
                        path=f"{task_where}.action",
                        message=f"duplicate action {template.action!r} in rule {rule.id!r}",
                    )
                )
            actions.add(template.action)
            issues.extend(
                PolicyIssue(path=f"{task_where}.reason", message=message)
                for message in _reason_template_problems(template.reason)
            )
        issues.extend(_follow_up_issues(rule, where))
    issues.extend(_partnership_issues(policy))
    return issues


def _partnership_issues(policy: Policy) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    if policy.partnership is not None:
        issues.append(PolicyIssue(path="partnership", message="set only on an effective playbook"))
    roles = {recipient.id: recipient for recipient in policy.recipients}
    local_roles = sorted(r for r, recipient in roles.items() if recipient.scope is Scope.LOCAL)
    national_roles = sorted(
        r for r, recipient in roles.items() if recipient.scope is Scope.NATIONAL
    )
    rules = {rule.id: rule for rule in policy.rules}
    if local_roles and policy.partnerships == ():
        issues.append(
            PolicyIssue(
                path="recipients",
                message=f"local roles ({', '.join(local_roles)}) need partnerships to bind them",
            )
        )
    seen_ids: set[str] = set()
    seen_recipients: set[str] = set(roles)
    seen_municipalities: dict[str, str] = {}
    for index, partnership in enumerate(policy.partnerships):
        where = f"partnerships[{index}]"
        if partnership.id in seen_ids:
            issues.append(
                PolicyIssue(path=f"{where}.id", message=f"duplicate partnership {partnership.id!r}")
            )
        seen_ids.add(partnership.id)
        for m_index, municipality in enumerate(partnership.municipalities):
            name = municipality_key(municipality)
            if name in seen_municipalities:
                issues.append(
                    PolicyIssue(
                        path=f"{where}.municipalities[{m_index}]",
                        message=f"{municipality!r} already belongs to partnership "
                        f"{seen_municipalities[name]!r}",
                    )
                )
            seen_municipalities.setdefault(name, partnership.id)
        for role, local in partnership.local_recipients.items():
            local_where = f"{where}.local_recipients.{role}"
            if role not in roles or roles[role].scope is not Scope.LOCAL:
                issues.append(
                    PolicyIssue(
                        path=local_where,
                        message=f"{role!r} is not a local role of the playbook; "
                        f"local roles: {', '.join(local_roles) or 'none'}",
                    )
                )
            if local.id in seen_recipients:
                issues.append(
                    PolicyIssue(
                        path=f"{local_where}.id",
                        message=f"recipient {local.id!r} is already taken",
                    )
                )
            seen_recipients.add(local.id)
        for n_index, role in enumerate(partnership.national_recipients or ()):
            if role not in national_roles:
                issues.append(
                    PolicyIssue(
                        path=f"{where}.national_recipients[{n_index}]",
                        message=f"{role!r} is not a national recipient; "
                        f"national: {', '.join(national_roles) or 'none'}",
                    )
                )
        issues.extend(
            _adaptation_issues(partnership.adaptations, f"{where}.adaptations", rules, roles)
        )
    return issues


def _adaptation_issues(
    adaptations: "Adaptations", where: str, rules: dict[str, Rule], roles: dict[str, Recipient]
) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    known = ", ".join(sorted(rules))
    for index, rule_id in enumerate(adaptations.rules_off):
        if rule_id not in rules:
            issues.append(
                PolicyIssue(
                    path=f"{where}.rules_off[{index}]",
                    message=f"unknown rule {rule_id!r}; known: {known}",
                )
            )
    for index, change in enumerate(adaptations.deadlines):
        rule = rules.get(change.rule)
        if rule is None:
            issues.append(
                PolicyIssue(
                    path=f"{where}.deadlines[{index}].rule",
                    message=f"unknown rule {change.rule!r}; known: {known}",
                )
            )
        elif change.action not in {template.action for template in rule.tasks}:
            issues.append(
                PolicyIssue(
                    path=f"{where}.deadlines[{index}].action",
                    message=f"rule {change.rule!r} has no task {change.action!r}",
                )
            )
    for index, extra in enumerate(adaptations.extra_tasks):
        rule = rules.get(extra.rule)
        if rule is None:
            issues.append(
                PolicyIssue(
                    path=f"{where}.extra_tasks[{index}].rule",
                    message=f"unknown rule {extra.rule!r}; known: {known}",
                )
            )
        elif extra.task.action in {template.action for template in rule.tasks}:
            issues.append(
                PolicyIssue(
                    path=f"{where}.extra_tasks[{index}].task.action",
                    message=f"rule {extra.rule!r} already has a task {extra.task.action!r}",
                )
            )
        if extra.task.recipient not in roles:
            issues.append(
                PolicyIssue(
                    path=f"{where}.extra_tasks[{index}].task.recipient",
                    message=f"unknown recipient {extra.task.recipient!r}; "
                    f"known: {', '.join(sorted(roles))}",
                )
            )
        issues.extend(
            PolicyIssue(path=f"{where}.extra_tasks[{index}].task.reason", message=message)
            for message in _reason_template_problems(extra.task.reason)
        )
    return issues


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


def _effective_issues(policy: Policy) -> list[PolicyIssue]:
    """A partnership's deadlines must still bring each follow-up after its sanctions."""
    issues: list[PolicyIssue] = []
    for index, partnership in enumerate(policy.partnerships):
        for rule in effective_policy(policy, partnership).rules:
            issues.extend(
                PolicyIssue(
                    path=f"partnerships[{index}].adaptations.deadlines",
                    message=f"{issue.message} (rule {rule.id!r} in {partnership.id!r})",
                )
                for issue in _follow_up_issues(rule, f"rules.{rule.id}")
            )
    return issues


def municipality_key(municipality: str) -> str:
    """A municipality's name as partnerships are matched on it: case and spacing ignored."""
    return " ".join(municipality.split()).casefold()


def _reason_template_problems(reason: str) -> list[str]:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(reason) if name is not None]
    except ValueError as error:
        return [f"not a valid reason template: {error}"]
    known = ", ".join(sorted(REASON_PLACEHOLDERS))
    return [
        f"unknown placeholder {{{name}}}; known: {known}"
        for name in fields
        if name not in REASON_PLACEHOLDERS
    ]


def _follow_up_issues(rule: Rule, where: str) -> list[PolicyIssue]:
    """A follow-up tells the group what the violence brought: it falls due after the sanctions."""
    sanction_deadlines = [t.deadline.delta for t in rule.tasks if t.kind is TaskKind.SANCTION]
    if not sanction_deadlines:
        return []
    latest = max(sanction_deadlines)
    return [
        PolicyIssue(
            path=f"{where}.tasks[{index}].deadline",
            message="a follow_up task must fall due after every sanction of its rule "
            f"(latest sanction is due after {latest})",
        )
        for index, template in enumerate(rule.tasks)
        if template.kind is TaskKind.FOLLOW_UP and template.deadline.delta <= latest
    ]


def parse_policy(document: Any, source: str = "<policy>") -> Policy:
    """Validate a decoded YAML document as a policy; raises PolicyInvalid naming every problem."""
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        issues = [
            PolicyIssue(path=_format_location(detail["loc"]), message=detail["msg"])
            for detail in error.errors(include_url=False)
        ]
        raise PolicyInvalid(source, issues) from None
    issues = _semantic_issues(policy)
    if not issues:
        issues = _effective_issues(policy)
    if issues:
        raise PolicyInvalid(source, issues)
    return policy


def load_policy_text(text: str, source: str = "<policy>") -> Policy:
    """Parse YAML text as a policy."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyInvalid(
            source, [PolicyIssue(path="", message=f"not valid YAML: {error}")]
        ) from None
    return parse_policy(document, source)


def load_policy(path: Path | None = None) -> Policy:
    """Load a policy file, or the default playbook shipped with the package when `path` is None."""
    if path is None:
        text = (
            resources.files(DEFAULT_POLICY_PACKAGE).joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")
        )
        return load_policy_text(text, f"{DEFAULT_POLICY_PACKAGE}/{DEFAULT_POLICY_FILE}")
    return load_policy_text(path.read_text("utf-8"), str(path))

"""A playbook's checks: every mistake named by the path of its entry, all at once."""

import string
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.task import TaskKind
from workers.core.policy import (
    ALWAYS_VISIBLE_FIELDS,
    OPTIONAL_FIELDS,
    POLICE_ONLY_FIELDS,
    REASON_PLACEHOLDERS,
    Adaptations,
    Policy,
    PolicyInvalid,
    PolicyIssue,
    Recipient,
    Rule,
    Scope,
    Side,
    effective_policy,
    municipality_key,
)


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
    adaptations: Adaptations, where: str, rules: dict[str, Rule], roles: dict[str, Recipient]
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

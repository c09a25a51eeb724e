"""The policy loader accepts the default playbook and never accepts a rule it cannot execute."""

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.cli.main import main
from workers.core.policy import PolicyInvalid
from workers.core.policy_checks import load_policy_text, parse_policy
from workers.policies import load_policy

DEFAULT_TEXT = resources.files("workers.policies").joinpath("default.yaml").read_text("utf-8")


def _default_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)
    return copy.deepcopy(document)


def _rule_index(document: dict[str, Any], rule_id: str) -> int:
    return next(i for i, rule in enumerate(document["rules"]) if rule["id"] == rule_id)


def _issues(document: dict[str, Any]) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(document, "test")
    return [str(issue) for issue in caught.value.issues]


def test_default_playbook_loads_with_every_recipient() -> None:
    policy = load_policy()
    assert [role.id for role in policy.recipients] == [
        "police-patrol",
        "police-investigation",
        "kriminalvarden",
        "skatteverket",
        "kronofogden",
        "forsakringskassan",
        "socialtjansten",
        "lansstyrelsen",
    ]
    assert policy.recipient_ids == (
        "police-investigation",
        "kriminalvarden",
        "skatteverket",
        "kronofogden",
        "forsakringskassan",
        "police-patrol-huddinge",
        "socialtjansten-huddinge",
        "police-patrol-jarfalla",
        "socialtjansten-jarfalla-upplands-bro",
        "police-patrol-orebro",
        "socialtjansten-orebro",
        "lansstyrelsen-orebro",
        "police-patrol-uppsala",
        "socialtjansten-uppsala",
    ), "national authorities once, each partnership's local recipients"
    assert policy.policy_version == "2026.12-default"


def test_unknown_recipient_is_named_with_its_path() -> None:
    document = _default_document()
    index = _rule_index(document, "tier1-serious-violence")
    document["rules"][index]["tasks"][3]["recipient"] = "pensionsmyndigheten"
    issues = _issues(document)
    assert any(
        issue.startswith(
            f"rules[{index}].tasks[3].recipient: unknown recipient 'pensionsmyndigheten'"
        )
        for issue in issues
    ), issues


def test_negative_deadline_is_rejected_with_its_path() -> None:
    document = _default_document()
    document["rules"][1]["tasks"][1]["deadline"] = {"hours": -4}
    issues = _issues(document)
    assert any(issue.startswith("rules[1].tasks[1].deadline.hours:") for issue in issues), issues


def test_zero_deadline_is_rejected() -> None:
    document = _default_document()
    document["rules"][0]["tasks"][0]["deadline"] = {"days": 0}
    issues = _issues(document)
    assert any(
        issue.startswith("rules[0].tasks[0].deadline:") and "later than" in issue
        for issue in issues
    ), issues


def test_missing_legal_basis_is_rejected_with_its_path() -> None:
    document = _default_document()
    del document["rules"][2]["tasks"][4]["legal_basis"]
    assert "rules[2].tasks[4].legal_basis: Field required" in _issues(document)


def test_unknown_field_in_a_rule_is_rejected() -> None:
    document = _default_document()
    document["rules"][0]["priority"] = "high"
    assert any(issue.startswith("rules[0].priority:") for issue in _issues(document))


def test_partner_may_not_see_the_narrative() -> None:
    document = _default_document()
    document["recipients"][3]["fields"].append("narrative")
    issues = _issues(document)
    assert any(
        issue.startswith("recipients[3].fields[") and "never leaves the police side" in issue
        for issue in issues
    ), issues


def test_unknown_visible_field_is_rejected() -> None:
    document = _default_document()
    document["recipients"][0]["fields"].append("home_address")
    assert any("unknown field 'home_address'" in issue for issue in _issues(document))


def test_follow_up_must_fall_due_after_the_sanctions() -> None:
    document = _default_document()
    index = _rule_index(document, "tier1-serious-violence")
    tasks = document["rules"][index]["tasks"]
    follow_up = next(i for i, task in enumerate(tasks) if task["kind"] == "follow_up")
    tasks[follow_up]["deadline"] = {"days": 3}
    issues = _issues(document)
    assert any(
        issue.startswith(f"rules[{index}].tasks[{follow_up}].deadline: a follow_up task")
        for issue in issues
    ), issues


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("{victim_name} again", "unknown placeholder {victim_name}"), ("{broken", "not a valid")],
)
def test_reason_templates_must_be_executable(reason: str, expected: str) -> None:
    document = _default_document()
    document["rules"][0]["tasks"][0]["reason"] = reason
    issues = _issues(document)
    assert any(
        issue.startswith("rules[0].tasks[0].reason:") and expected in issue for issue in issues
    )


def test_tier_above_max_and_duplicate_ids_are_rejected() -> None:
    document = _default_document()
    document["rules"][1]["when"]["tiers"] = [3]
    document["rules"][2]["id"] = document["rules"][1]["id"]
    issues = _issues(document)
    assert "rules[1].when.tiers[0]: tier 3 is above max_tier 2" in issues
    assert any(issue.startswith("rules[2].id: duplicate rule id") for issue in issues)


def test_every_problem_is_reported_at_once() -> None:
    document = _default_document()
    document["rules"][0]["tasks"][0]["recipient"] = "nobody"
    document["rules"][1]["tasks"][0]["recipient"] = "nobody-else"
    assert len(_issues(document)) == 2


def test_yaml_syntax_errors_are_reported() -> None:
    with pytest.raises(PolicyInvalid, match="not valid YAML"):
        load_policy_text("rules: [unclosed", "broken.yaml")


def test_validate_command_reports_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _default_document()
    document["rules"][0]["tasks"][1]["recipient"] = "nobody"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    assert main(["policy", "validate", str(broken)]) == 1
    assert "rules[0].tasks[1].recipient: unknown recipient 'nobody'" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text(DEFAULT_TEXT, "utf-8")
    assert main(["policy", "validate", str(good)]) == 0
    assert (
        "is valid: 4 rules, 8 recipient roles, 14 recipients; "
        "partnerships: huddinge, jarfalla-upplands-bro, orebro, uppsala"
    ) in capsys.readouterr().out

"""deploy/prometheus/rules.yaml: promtool accepts the rules, and its unit tests show every
alert firing and staying quiet; each alert links to its runbook in docs/operations.md."""

import re

import yaml

from tests.deploy.conftest import DEPLOY, ROOT, run, tool

RULES = DEPLOY / "prometheus" / "rules.yaml"


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    run(tool("promtool"), "check", "rules", RULES)
    run(tool("promtool"), "test", "rules", "rules.test.yaml", cwd=RULES.parent)


def test_every_alert_is_tested_and_has_a_runbook_section() -> None:
    alerts = [
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text("utf-8"))["groups"]
        for rule in group["rules"]
    ]
    tests = (RULES.parent / "rules.test.yaml").read_text("utf-8")
    operations = (ROOT / "docs" / "operations.md").read_text("utf-8")
    anchors = {
        re.sub(r"[^a-z0-9-]", "", heading.lower().replace(" ", "-"))
        for heading in re.findall(r"^#+ (.+)$", operations, re.M)
    }
    for group in yaml.safe_load(RULES.read_text("utf-8"))["groups"]:
        for rule in group["rules"]:
            link = rule["annotations"]["runbook_url"]
            assert link.startswith("docs/operations.md#"), link
            assert link.split("#", 1)[1] in anchors, f"{rule['alert']}: no section {link}"
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"

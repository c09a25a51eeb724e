"""`gvi-sanctions policy explain` on the example files in deploy/examples/."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workers.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"


def test_explain_prints_every_task_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "policy",
            "explain",
            str(EXAMPLES / "incident.json"),
            str(EXAMPLES / "group.json"),
            str(EXAMPLES / "history.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Incident INC-2026-HUD-0042 v1: shooting" in out
    assert "Group GRP-HUD-NORRA: tier 1, rules tier1-serious-violence" in out
    assert out.count("      why: ") == out.count("  [") == 21
    assert out.count("legal basis: ") == 21
    assert (
        "[follow_up] police-patrol-huddinge: Communicate the consequences to the group and its "
        "rivals" in out
    )
    assert "Partnership huddinge (GVI Huddinge): Huddinge" in out
    assert "police-patrol → police-patrol-huddinge" in out
    assert "adaptations: none (the base playbook)" in out
    assert "Policy 2026.12-default:huddinge: tasks" in out
    assert "NARRATIVE" not in out


def test_explain_repeat_and_unnotified_examples(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "policy",
            "explain",
            str(EXAMPLES / "incident.json"),
            str(EXAMPLES / "group.json"),
            str(EXAMPLES / "history-repeat.json"),
        ]
    )
    assert "tier 2, rules tier2-repeat-serious-violence" in capsys.readouterr().out
    main(
        [
            "policy",
            "explain",
            str(EXAMPLES / "incident-unnotified.json"),
            str(EXAMPLES / "group-unnotified.json"),
        ]
    )
    out = capsys.readouterr().out
    assert "rules notify-unnotified-group" in out and "[sanction]" not in out
    assert out.count("[notification] police-patrol-orebro") == 2
    assert "Partnership orebro (GVI Örebro)" in out
    assert "deadline of patrol-focus in tier1-serious-violence: 6h" in out


def test_explain_json_is_a_decision(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "policy",
            "explain",
            "--json",
            str(EXAMPLES / "incident.json"),
            str(EXAMPLES / "group.json"),
        ]
    )
    decision = json.loads(capsys.readouterr().out)
    assert decision["outcome"] == "tasks" and len(decision["groups"][0]["tasks"]) == 21


def test_explain_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "incident.json"
    bad.write_text('{"kind": "reported", "incident_id": ""}', "utf-8")
    assert main(["policy", "explain", str(bad), str(EXAMPLES / "group.json")]) == 1
    assert "incident_id" in capsys.readouterr().err


def test_console_script_runs_explain() -> None:
    script = Path(sys.executable).parent / "gvi-sanctions"
    result = subprocess.run(
        [
            str(script),
            "policy",
            "explain",
            str(EXAMPLES / "incident.json"),
            str(EXAMPLES / "group.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "rule tier1-serious-violence" in result.stdout

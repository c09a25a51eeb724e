"""Playbooks published on `gvi.policies`: two workers plan every incident with the version in
force at its report, a worker restarted in between agrees, and `policy publish` refuses a
broken playbook, a changed version and a time in the past."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.codec import encode
from schemas.incident import IncidentReported
from tests.support.deployment import Deployment
from tests.support.scenario import fresh_incident, notified_group
from workers.settings import Settings
from workers.tools.processes import settings_environment

pytestmark = pytest.mark.broker
TAGS = {"BEFORE": 6, "AFTER": 6, "LATE": 4, "RESTART-BEFORE": 4, "RESTART-AFTER": 4}
"""Incidents per kind: reported before or after the switch, published before or after it,
before or after a worker's restart."""
DEFAULT = yaml.safe_load(
    resources.files("workers.policies").joinpath("default.yaml").read_text("utf-8")
)


def _playbook(path: Path, version: str, patrol_hours: int) -> Path:
    """The shipped playbook as `version`, Huddinge's patrol focus due after `patrol_hours`."""
    document: dict[str, Any] = yaml.safe_load(yaml.safe_dump(DEFAULT))
    document["policy_version"] = version
    huddinge = next(p for p in document["partnerships"] if p["id"] == "huddinge")
    huddinge["adaptations"] = {
        "deadlines": [
            {
                "rule": "tier1-serious-violence",
                "action": "patrol-focus",
                "deadline": {"hours": patrol_hours},
            }
        ]
    }
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    return path


def _cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *arguments],
        env={**os.environ, **settings_environment(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _incidents(tag: str, reported_at: datetime) -> list[IncidentReported]:
    return [
        fresh_incident(
            f"INC-PUB-{tag}-{n}",
            f"GRP-PUB-{tag}-{n}",  # a group of its own: each incident is its group's first
            reported_at=reported_at,
            occurred_at=reported_at - timedelta(minutes=20),
            municipality="Huddinge",
        )
        for n in range(TAGS[tag])
    ]


def _patrol_versions(deployment: Deployment, incidents: list[IncidentReported]) -> dict[str, Any]:
    """Per incident, the version and deadline of its patrol-focus task as its worker planned it."""
    wanted = {i.incident_id for i in incidents}

    def patrols(views: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            v["incident_id"]: v
            for v in views
            if v.get("incident_id") in wanted and v.get("rule_id") == "tier1-serious-violence"
        }

    views = deployment.wait_for(
        "tasks.police-patrol-huddinge",
        lambda values: len(patrols([v for v in values if "action" in v])) == len(wanted),
    )
    return patrols([v for v in views if v.get("action") == "patrol-focus"])


def test_two_workers_and_a_restart_plan_with_the_version_in_force_at_each_report(
    deployment: Deployment, tmp_path: Path
) -> None:
    settings = deployment.settings
    first, second = deployment.start_worker(), deployment.start_worker()
    deployment.register_groups(
        *(notified_group(f"GRP-PUB-{tag}-{n}") for tag, count in TAGS.items() for n in range(count))
    )

    version_n = _playbook(tmp_path / "n.yaml", "2027.01-n", 12)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    published = _cli(
        settings, "policy", "publish", str(version_n), "--effective-from", past, "--force"
    )
    assert published.returncode == 0, published.stderr
    switch = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
    version_next = _playbook(tmp_path / "next.yaml", "2027.01-next", 3)
    ahead = _cli(
        settings, "policy", "publish", str(version_next), "--effective-from", switch.isoformat()
    )
    assert ahead.returncode == 0, ahead.stderr
    assert "in force from" in ahead.stdout

    before = _incidents("BEFORE", switch - timedelta(seconds=5))
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in before])
    while datetime.now(UTC) < switch + timedelta(seconds=1):
        time.sleep(0.2)
    after = _incidents("AFTER", datetime.now(UTC).replace(microsecond=0))
    late = _incidents("LATE", switch - timedelta(seconds=2))
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in (*after, *late)])

    first.stop()
    deployment.start_worker()
    more_before = _incidents("RESTART-BEFORE", switch - timedelta(seconds=1))
    more_after = _incidents("RESTART-AFTER", switch + timedelta(seconds=1))
    deployment.publish(
        "incidents", [(i.incident_id, encode(i)) for i in (*more_before, *more_after)]
    )

    broken = _playbook(tmp_path / "broken.yaml", "2027.01-broken", 12)
    document = yaml.safe_load(broken.read_text("utf-8"))
    document["partnerships"][0]["local_recipients"]["police-patrol"]["id"] = "skatteverket"
    broken.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    refused = _cli(
        settings, "policy", "publish", str(broken), "--effective-from", "2099-01-01T00:00Z"
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "partnerships[0].local_recipients.police-patrol.id" in refused.stderr
    later = _playbook(tmp_path / "later.yaml", "2027.02-later", 12)
    too_early = _cli(settings, "policy", "publish", str(later), "--effective-from", past)
    assert too_early.returncode == 1 and "--force" in too_early.stderr
    changed = _playbook(tmp_path / "changed.yaml", "2027.01-next", 4)
    again = _cli(
        settings,
        "policy",
        "publish",
        str(changed),
        "--effective-from",
        switch.isoformat(),
        "--force",  # forcing allows a time in the past, never other content under a version
    )
    assert again.returncode == 1 and "already published with other content" in again.stderr

    planned = _patrol_versions(deployment, [*before, *after, *late, *more_before, *more_after])
    for incident in (*before, *late, *more_before):
        view = planned[incident.incident_id]
        assert view["policy_version"] == "2027.01-n:huddinge", incident.incident_id
        assert datetime.fromisoformat(view["deadline"]) == incident.reported_at + timedelta(
            hours=12
        )
    for incident in (*after, *more_after):
        view = planned[incident.incident_id]
        assert view["policy_version"] == "2027.01-next:huddinge", incident.incident_id
        assert datetime.fromisoformat(view["deadline"]) == incident.reported_at + timedelta(hours=3)
    assert second.process.poll() is None
    planners = [w for w in deployment.workers if w.done("incident admitted")]
    assert len(planners) >= 2, "the incidents were planned by more than one worker"
    on_topic = [r.key for r in deployment.read(deployment.topic("policies"))]
    assert on_topic == ["2027.01-n", "2027.01-next"], "the refused ones never arrived"

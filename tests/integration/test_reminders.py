"""An open task is reminded once at the policy's share of its time, and escalated once at its
deadline, also when the worker is killed and started again between the two."""

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from events.codec import encode
from tests.support.deployment import Deployment
from tests.support.scenario import expected_tasks, fresh_incident, notified_group

pytestmark = pytest.mark.broker

PATROL_HOURS = 12  # the default policy's patrol-focus deadline, counted from the report


def _of(escalations: list[dict[str, Any]], task_id: str, level: str) -> list[dict[str, Any]]:
    return [e for e in escalations if e["task_id"] == task_id and e["level"] == level]


def _reminded_in_changelog(deployment: Deployment, task_id: str) -> bool:
    changelog = f"{deployment.settings.app_id}-tasks-changelog"
    records = [r for r in deployment.read(changelog) if r.key and json.loads(r.key) == task_id]
    return bool(records) and json.loads(records[-1].value or b"{}").get("reminded_at") is not None


def test_a_reminder_then_an_escalation_each_once_across_a_worker_crash(
    deployment: Deployment,
) -> None:
    worker = deployment.start_worker()
    group = notified_group("GRP-IT-REMIND")
    deployment.register_groups(group)
    # Reported so that the patrol task's deadline is 45 s away: past its 75 % point already.
    reported_at = datetime.now(UTC).replace(microsecond=0) - timedelta(
        hours=PATROL_HOURS, seconds=-45
    )
    reported = fresh_incident(
        "INC-IT-REMIND",
        group.group_id,
        reported_at=reported_at,
        occurred_at=reported_at - timedelta(minutes=20),
    )
    [patrol] = [t for t in expected_tasks(reported, group) if t.action == "patrol-focus"]
    task_id = str(patrol.task_id)
    assert patrol.deadline == reported_at + timedelta(hours=PATROL_HOURS)
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])

    before = deployment.wait_for("escalations", lambda e: bool(_of(e, task_id, "reminder")))
    [reminder] = _of(before, task_id, "reminder")
    assert reminder["reason"] == "deadline_approaching"
    assert _of(before, task_id, "escalation") == [], "the deadline has not passed yet"
    deadline = datetime.fromisoformat(reminder["deadline"])
    assert datetime.fromisoformat(reminder["detected_at"]) < deadline
    others = [e for e in before if e["task_id"] != task_id and e["level"] == "reminder"]
    assert all(e["deadline"] == reminder["deadline"] for e in others), "only 12-hour tasks are due"

    deadline_wait = time.monotonic() + 60
    while not _reminded_in_changelog(deployment, task_id):
        assert time.monotonic() < deadline_wait, "the reminder was never written to the table"
        time.sleep(0.5)
    worker.kill()
    deployment.start_worker()

    after = deployment.wait_for(
        "escalations", lambda e: bool(_of(e, task_id, "escalation")), limit=120
    )
    [escalation] = _of(after, task_id, "escalation")
    assert escalation["reason"] == "overdue"
    assert datetime.fromisoformat(escalation["detected_at"]) >= deadline
    time.sleep(5)  # five more ticks of the deadline timer (1 s in tests): nothing repeats
    final = deployment.values("escalations")
    assert len(_of(final, task_id, "reminder")) == 1
    assert len(_of(final, task_id, "escalation")) == 1

"""A status update read before its task is known waits for the task, then applies or is rejected."""

import uuid
from typing import Any

import pytest

from events.codec import encode
from schemas import TaskStatus
from tests.support.deployment import Deployment
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, update

pytestmark = pytest.mark.broker


def _acknowledged_in(snapshots: list[dict[str, Any]], incident_id: str) -> int:
    counts = [
        s["by_status"].get("acknowledged", 0) for s in snapshots if s["incident_id"] == incident_id
    ]
    return max(counts, default=0)


def test_an_update_read_before_its_task_is_applied_once_the_task_exists(
    deployment: Deployment,
) -> None:
    deployment.start_worker()
    group = notified_group()
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-EARLY")
    task = next(t for t in expected_tasks(reported, group) if t.recipient == "skatteverket")
    early = encode(update(str(task.task_id), task.recipient, TaskStatus.ACKNOWLEDGED))
    deployment.report([(str(task.task_id), early)])
    deployment.wait_for_log("status update parked until its task is known")

    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    deployment.wait_for_log("parked status updates applied")
    snapshots = deployment.wait_for(
        "completion", lambda values: _acknowledged_in(values, reported.incident_id) == 1
    )
    latest = [s for s in snapshots if s["incident_id"] == reported.incident_id][-1]
    statuses = {t["task_id"]: t["status"] for t in latest["tasks"]}
    assert statuses[str(task.task_id)] == "acknowledged"
    assert list(statuses.values()).count("acknowledged") == 1
    assert deployment.values("rejected") == []


def test_an_update_whose_task_never_appears_is_rejected_after_the_wait(
    deployment: Deployment,
) -> None:
    deployment.start_worker(parked_update_seconds=2.0)
    unknown = str(uuid.uuid4())
    stray = encode(update(unknown, "kronofogden", TaskStatus.COMPLETED))
    [(partition, offset)] = deployment.report([(unknown, stray)])
    deployment.wait_for_log("status update parked until its task is known")

    [rejection] = deployment.wait_for("rejected", lambda values: len(values) >= 1)
    assert rejection["error_code"] == "unknown_task"
    assert rejection["source_topic"] == deployment.topic("task-updates.kronofogden")
    assert (rejection["source_partition"], rejection["source_offset"]) == (partition, offset)
    assert rejection["source_key"] == unknown
    assert f"no task {unknown} is known" in rejection["message"]
    deployment.wait_for_log("parked status updates rejected")

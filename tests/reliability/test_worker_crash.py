"""Two worker processes share the partitions; SIGKILL of one mid-stream loses no task."""

import time

import pytest

from events.codec import encode
from tests.integration.conftest import Deployment, WorkerProcess
from tests.integration.scenario import expected_tasks, fresh_incident, notified_group

pytestmark = pytest.mark.broker


def _dispatched(worker: WorkerProcess) -> int:
    return worker.log().count('"task dispatched"')


def test_sigkill_of_one_worker_loses_no_task(deployment: Deployment) -> None:
    first = deployment.start_worker()
    second = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready", count=2, limit=120)
    groups = [notified_group(f"GRP-IT-KILL-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    incidents = [
        fresh_incident(f"INC-IT-KILL-{n:02d}", group_id=groups[n % 3].group_id) for n in range(12)
    ]
    expected = {
        str(task.task_id): task.recipient
        for reported in incidents
        for task in expected_tasks(reported, *groups)
    }
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents[:6]])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (_dispatched(first) and _dispatched(second)):
        time.sleep(0.2)
    assert _dispatched(first) > 0, "the first worker got no partitions"
    assert _dispatched(second) > 0, "the second worker got no partitions"
    first.kill()
    dispatched_before_kill = _dispatched(first)
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents[6:]])

    for recipient in sorted(set(expected.values())):
        wanted = {task_id for task_id, r in expected.items() if r == recipient}
        deployment.wait_for(
            f"tasks.{recipient}",
            lambda values, w=wanted: {v["task_id"] for v in values} >= w,
            limit=180,
        )
    changelog = f"{deployment.settings.app_id}-tasks-changelog"
    stored = {record.key.strip('"') for record in deployment.read(changelog) if record.key}
    assert set(expected) <= stored
    assert dispatched_before_kill < len(expected), "the kill came after all work was done"
    assert _dispatched(second) > 0

"""Two worker processes share the partitions; SIGKILL of one mid-stream loses no task."""

import json
import time
from typing import Any

import pytest

from events.codec import encode
from schemas import GroupProfile, IncidentReported
from tests.support.deployment import Deployment, WorkerProcess
from tests.support.scenario import expected_tasks, fresh_incident, notified_group

pytestmark = pytest.mark.broker


def _dispatched(worker: WorkerProcess) -> int:
    """Work done by a worker: tasks dispatched (planning, by group) or snapshots sent
    (completion, by incident); three groups can all fall in one worker's partitions."""
    return worker.done("tasks dispatched") + worker.done("completion")


def _incidents(prefix: str, count: int, groups: list[GroupProfile]) -> list[IncidentReported]:
    return [
        fresh_incident(f"{prefix}-{n:02d}", group_id=groups[n % len(groups)].group_id)
        for n in range(count)
    ]


def _publish(deployment: Deployment, incidents: list[IncidentReported]) -> None:
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents])


def _wait_until_both_dispatch(first: WorkerProcess, second: WorkerProcess) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (_dispatched(first) and _dispatched(second)):
        time.sleep(0.2)
    assert _dispatched(first) > 0, "the first worker got no partitions"
    assert _dispatched(second) > 0, "the second worker got no partitions"


def _assert_every_task_delivered_and_stored(
    deployment: Deployment, incidents: list[IncidentReported], groups: list[GroupProfile]
) -> None:
    planned = [
        (str(task.task_id), task.recipient, reported.incident_id)
        for reported in incidents
        for task in expected_tasks(reported, *groups)
    ]
    expected = {task_id: recipient for task_id, recipient, _ in planned}
    incident_of = {task_id: incident_id for task_id, _, incident_id in planned}
    missing: dict[str, set[str]] = {}
    for recipient in sorted(set(expected.values())):
        wanted = {task_id for task_id, r in expected.items() if r == recipient}

        def all_there(values: list[dict[str, Any]], wanted: set[str] = wanted) -> bool:
            return {v["task_id"] for v in values} >= wanted

        try:
            # Once one recipient's topic lacks tasks, the others are read once more only.
            deployment.wait_for(f"tasks.{recipient}", all_there, limit=5 if missing else 180)
        except AssertionError:
            seen = {v["task_id"] for v in deployment.values(f"tasks.{recipient}")}
            missing[recipient] = wanted - seen
    changelog = f"{deployment.settings.app_id}-tasks-changelog"
    status = {
        record.key.strip('"'): json.loads(record.value)["task"]["status"] if record.value else None
        for record in deployment.read(changelog)
        if record.key
    }
    stored = set(status)
    if missing:
        by_incident = sorted(
            (incident_of[task_id], recipient, str(status.get(task_id, "not in the table")))
            for recipient, task_ids in missing.items()
            for task_id in task_ids
        )
        raise AssertionError(
            f"tasks never on their recipients' topics (incident, recipient, status in the "
            f"task table): {by_incident}; offsets read from those topics, by partition: "
            f"{_offsets_read(deployment, sorted(missing))}"
        )
    assert set(expected) <= stored, f"{len(set(expected) - stored)} tasks missing from the table"


def _offsets_read(deployment: Deployment, recipients: list[str]) -> dict[str, dict[int, str]]:
    """Per recipient topic and partition, the first and last offset read and how many records:
    a partition read from 1 lost its record 0 to the broker's listed start, a count below the
    span shows a gap."""
    read: dict[str, dict[int, str]] = {}
    for recipient in recipients:
        offsets: dict[int, list[int]] = {}
        for record in deployment.read(deployment.topic(f"tasks.{recipient}")):
            offsets.setdefault(record.partition, []).append(record.offset)
        read[recipient] = {
            partition: f"{min(found)}..{max(found)} ({len(found)} records)"
            for partition, found in sorted(offsets.items())
        }
    return read


def test_sigkill_of_one_worker_loses_no_task(deployment: Deployment) -> None:
    first = deployment.start_worker()
    second = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready", count=2, limit=120)
    groups = [notified_group(f"GRP-IT-KILL-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    incidents = _incidents("INC-IT-KILL", 12, groups)
    _publish(deployment, incidents[:6])
    _wait_until_both_dispatch(first, second)
    first.kill()
    dispatched_before_kill = _dispatched(first)
    _publish(deployment, incidents[6:])

    _assert_every_task_delivered_and_stored(deployment, incidents, groups)
    expected_count = sum(len(expected_tasks(i, *groups)) for i in incidents)
    assert dispatched_before_kill < expected_count, "the kill came after all work was done"


def test_a_killed_worker_that_rejoins_loses_no_task(deployment: Deployment) -> None:
    first = deployment.start_worker()
    second = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready", count=2, limit=120)
    groups = [notified_group(f"GRP-IT-BACK-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    incidents = _incidents("INC-IT-BACK", 15, groups)
    _publish(deployment, incidents[:5])
    _wait_until_both_dispatch(first, second)
    first.kill()
    _publish(deployment, incidents[5:10])
    replacement = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready", count=3, limit=120)
    _publish(deployment, incidents[10:])

    _assert_every_task_delivered_and_stored(deployment, incidents, groups)
    assert _dispatched(replacement) > 0, "the restarted worker took no partitions back"

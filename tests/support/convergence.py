"""Checks of the whole outcome after crashes and faults: tasks, their content, and completion."""

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from schemas import GroupProfile, IncidentReported, SanctionTask, TaskStatus
from tests.support.deployment import Deployment
from tests.support.outside_clients import librdkafka_report
from tests.support.scenario import expected_tasks, update

CONTENT = ("task_id", "recipient", "action", "kind", "deadline", "subject_ref", "incident_id")


def all_expected(
    incidents: Iterable[IncidentReported], groups: list[GroupProfile]
) -> dict[str, SanctionTask]:
    return {
        str(task.task_id): task
        for reported in incidents
        for task in expected_tasks(reported, *groups)
    }


def wait_until_dispatched(
    deployment: Deployment, expected: dict[str, SanctionTask], limit: float = 300
) -> None:
    """Every expected task on its recipient topic, and no copy of a task with other content."""
    for recipient in sorted({task.recipient for task in expected.values()}):
        wanted = {task_id for task_id, task in expected.items() if task.recipient == recipient}
        views = deployment.wait_for(
            f"tasks.{recipient}",
            lambda values, w=wanted: {v["task_id"] for v in values} >= w,
            limit=limit,
        )
        contents: defaultdict[str, set[str]] = defaultdict(set)
        for view in views:
            contents[view["task_id"]].add(json.dumps([view.get(f) for f in CONTENT]))
        conflicting = {task_id: c for task_id, c in contents.items() if len(c) > 1}
        assert not conflicting, f"{recipient}: a task id with two contents: {conflicting}"


def complete_all(deployment: Deployment, expected: dict[str, SanctionTask]) -> None:
    """Agencies acknowledge and complete every task, with librdkafka's default partitioner."""
    updates = [
        (task_id, _encoded(update(task_id, task.recipient, status)))
        for status in (TaskStatus.ACKNOWLEDGED, TaskStatus.COMPLETED)
        for task_id, task in expected.items()
    ]
    librdkafka_report(deployment.bootstrap, deployment.settings.topic_prefix, updates)


def _encoded(model: Any) -> bytes:
    return bytes(model.model_dump_json(exclude_none=True).encode("utf-8"))


def assert_completion_converged(
    deployment: Deployment, incidents: list[IncidentReported], limit: float = 300
) -> dict[str, int]:
    """Every incident's last snapshot is done at 100 % and agrees with its tasks; no snapshot
    shows less progress than an earlier one of the same incident version. Returns counts."""
    ids = {reported.incident_id for reported in incidents}

    def converged(values: list[dict[str, Any]]) -> bool:
        last = {v["incident_id"]: v for v in values if v["incident_id"] in ids}
        return len(last) == len(ids) and all(v["percent_complete"] == 100.0 for v in last.values())

    try:
        snapshots = deployment.wait_for("completion", converged, limit=limit)
    except AssertionError as not_converged:
        raise AssertionError(_behind(deployment.values("completion"), ids)) from not_converged
    states = _task_table(deployment)
    backwards = 0
    seen: dict[tuple[str, int], int] = {}
    last: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots:
        key = (snapshot["incident_id"], snapshot["incident_version"])
        if snapshot["tasks_completed"] < seen.get(key, 0):
            backwards += 1
        seen[key] = max(seen.get(key, 0), snapshot["tasks_completed"])
        last[snapshot["incident_id"]] = snapshot
    assert backwards == 0, f"{backwards} snapshots showed less progress than an earlier one"
    for incident_id in ids:
        final = last[incident_id]
        assert final["progress"] == "done", final
        for line in final["tasks"]:
            assert states[line["task_id"]] == line["status"] == "completed", line
    return {"snapshots": len(snapshots), "incidents": len(ids)}


def _behind(values: list[dict[str, Any]], ids: set[str]) -> str:
    """Which incidents did not converge: each one's last snapshot and its unfinished tasks."""
    last = {v["incident_id"]: v for v in values if v["incident_id"] in ids}
    lines = [f"no snapshot at all: {sorted(ids - set(last))}"] if ids - set(last) else []
    for incident_id, snapshot in sorted(last.items()):
        if snapshot["percent_complete"] != 100.0:
            unfinished = [
                (line["task_id"], line["recipient"], line["status"])
                for line in snapshot["tasks"]
                if line["status"] != "completed"
            ]
            lines.append(f"{incident_id} at {snapshot['percent_complete']} %: {unfinished}")
    return "completion did not converge: " + "; ".join(lines)


def _task_table(deployment: Deployment) -> dict[str, str]:
    """Each task's status in the worker's task table (its changelog, last value wins)."""
    states: dict[str, str] = {}
    changelog = f"{deployment.settings.app_id}-tasks-changelog"
    for record in deployment.read(changelog):
        if record.value and record.key:
            states[json.loads(record.key)] = json.loads(record.value)["task"]["status"]
    return states

"""The worker on a real broker: intake → plan → dispatch → track → complete."""

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from events.codec import encode
from schemas import IncidentCorrected, TaskStatus
from tests.support.builders import attribution
from tests.support.deployment import Deployment
from tests.support.gateway_stack import metric_samples, sample
from tests.support.scenario import (
    POLICY,
    expected_tasks,
    fresh_incident,
    notified_group,
    retraction,
    update,
)
from workers.core.partnerships import policy_for_incident
from workers.core.policy import Side

pytestmark = pytest.mark.broker


def _snapshots(values: list[dict[str, Any]], incident_id: str) -> list[dict[str, Any]]:
    return [v for v in values if v["incident_id"] == incident_id]


def _by_task(values: list[dict[str, Any]]) -> Counter[str]:
    return Counter(value["task_id"] for value in values)


def test_incident_is_planned_dispatched_tracked_and_completed(deployment: Deployment) -> None:
    deployment.start_worker()
    group = notified_group()
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-HAPPY")
    expected = expected_tasks(reported, group)
    assert len(expected) == 21
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    effective = policy_for_incident(POLICY, reported)

    for recipient in POLICY.recipient_ids:
        wanted = {str(t.task_id) for t in expected if t.recipient == recipient}
        views = (
            deployment.wait_for(
                f"tasks.{recipient}", lambda values, w=wanted: {v["task_id"] for v in values} >= w
            )
            if wanted
            else deployment.values(f"tasks.{recipient}")
        )
        assert {v["task_id"] for v in views} == wanted, recipient
        if recipient not in effective.recipient_ids:
            assert not views, f"{recipient} is another partnership's"
        elif effective.recipient(recipient).side is Side.PARTNER:
            text = json.dumps(views)
            assert reported.narrative not in text
            assert "narrative" not in text and "attributions" not in text
    first = deployment.wait_for(
        "completion", lambda values: len(_snapshots(values, "INC-IT-HAPPY")) > 0
    )
    assert _snapshots(first, "INC-IT-HAPPY")[0]["progress"] == "open"

    updates = [
        (str(task.task_id), encode(update(str(task.task_id), task.recipient, status)))
        for task in expected
        for status in (TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)
    ]
    deployment.report(updates)
    done = deployment.wait_for(
        "completion",
        lambda values: any(
            s["percent_complete"] == 100.0 for s in _snapshots(values, "INC-IT-HAPPY")
        ),
    )
    final = _snapshots(done, "INC-IT-HAPPY")[-1]
    assert final["progress"] == "done"
    assert final["tasks_total"] == final["tasks_completed"] == len(expected)
    assert {t["task_id"] for t in final["tasks"]} == {str(t.task_id) for t in expected}
    audit = deployment.values("audit")
    assert _by_task(audit) == Counter({str(t.task_id): 1 for t in expected})
    assert all(record["legal_basis"] for record in audit)
    assert deployment.values("rejected") == []


def test_duplicate_incident_and_replayed_update_change_nothing(deployment: Deployment) -> None:
    deployment.start_worker()
    group = notified_group()
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-DUP")
    expected = expected_tasks(reported, group)
    message = (reported.incident_id, encode(reported))
    deployment.publish("incidents", [message, message])
    deployment.wait_for_log("duplicate incident handed to its groups again")
    deployment.wait_for("audit", lambda values: len(values) >= len(expected))

    task = next(t for t in expected if t.recipient == "skatteverket")
    acknowledged = encode(update(str(task.task_id), task.recipient, TaskStatus.ACKNOWLEDGED))
    deployment.report([(str(task.task_id), acknowledged)] * 2)
    deployment.wait_for_log("repeated status update ignored")
    deployment.publish("incidents", [message])
    deployment.wait_for_log("duplicate incident handed to its groups again", count=2)

    views = deployment.values("tasks.skatteverket")
    assert _by_task(views) == Counter(
        {str(t.task_id): 1 for t in expected if t.recipient == "skatteverket"}
    )
    assert _by_task(deployment.values("audit")) == Counter({str(t.task_id): 1 for t in expected})
    snapshots = _snapshots(deployment.values("completion"), "INC-IT-DUP")
    acknowledged_snapshots = [s for s in snapshots if s["by_status"].get("acknowledged", 0) == 1]
    assert len(acknowledged_snapshots) == 1
    assert deployment.values("rejected") == []


def test_updates_read_again_after_later_ones_change_nothing(deployment: Deployment) -> None:
    """After a crash, updates whose offsets were not committed are read again, after the task
    already moved past them: they are repeats, not backward moves to refuse."""
    deployment.start_worker()
    group = notified_group()
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-REPLAY")
    task = next(t for t in expected_tasks(reported, group) if t.recipient == "kronofogden")
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    reports = [
        (str(task.task_id), encode(update(str(task.task_id), task.recipient, status)))
        for status in (TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)
    ]
    deployment.wait_for("tasks.kronofogden", lambda values: len(values) >= 1)
    deployment.report(reports)
    deployment.wait_for_done("task changed", count=3)
    deployment.report(reports[:2])
    deployment.wait_for_log("repeated status update ignored", count=2)

    snapshots = _snapshots(deployment.values("completion"), "INC-IT-REPLAY")
    statuses = {t["task_id"]: t["status"] for t in snapshots[-1]["tasks"]}
    assert statuses[str(task.task_id)] == "completed"
    assert deployment.values("rejected") == []
    late = encode(update(str(task.task_id), task.recipient, TaskStatus.ACKNOWLEDGED))
    deployment.report([(str(task.task_id), late)])
    [refused] = deployment.wait_for("rejected", lambda values: len(values) >= 1)
    assert refused["error_code"] == "invalid_transition"


def test_bad_input_is_rejected_with_coordinates_and_the_next_message_is_processed(
    deployment: Deployment,
) -> None:
    deployment.start_worker(parked_incident_seconds=2.0)
    group = notified_group()
    deployment.register_groups(group)
    valid = json.loads(fresh_incident("INC-IT-BAD-TYPES").model_dump_json())
    wrong_types = {**valid, "version": "first", "attributions": "GRP-TEST-A"}
    unknown_group = fresh_incident("INC-IT-NOBODY", group_id="GRP-NOWHERE")
    placed = deployment.publish(
        "incidents",
        [
            ("INC-IT-JSON", b'{"kind": "reported", "incident_id": '),
            (
                "INC-IT-SCHEMA",
                json.dumps({"kind": "reported", "incident_id": "INC-IT-SCHEMA"}).encode(),
            ),
            ("INC-IT-BAD-TYPES", json.dumps(wrong_types).encode()),
            (unknown_group.incident_id, encode(unknown_group)),
        ],
    )
    good = fresh_incident("INC-IT-GOOD")
    expected = expected_tasks(good, group)
    deployment.publish("incidents", [(good.incident_id, encode(good))])
    rejected = deployment.wait_for("rejected", lambda values: len(values) >= 4)
    by_key = {r["source_key"]: r for r in rejected}
    assert by_key["INC-IT-JSON"]["error_code"] == "malformed_json"
    assert by_key["INC-IT-SCHEMA"]["error_code"] == "schema_violation"
    assert "occurred_at: Field required" in by_key["INC-IT-SCHEMA"]["message"]
    assert by_key["INC-IT-BAD-TYPES"]["error_code"] == "schema_violation"
    assert "version:" in by_key["INC-IT-BAD-TYPES"]["message"]
    assert by_key["INC-IT-NOBODY"]["error_code"] == "unknown_group"
    assert "GRP-NOWHERE" in by_key["INC-IT-NOBODY"]["message"]
    for key, (partition, offset) in zip(
        ["INC-IT-JSON", "INC-IT-SCHEMA", "INC-IT-BAD-TYPES", "INC-IT-NOBODY"], placed, strict=True
    ):
        assert by_key[key]["source_topic"] == deployment.topic("incidents")
        assert (by_key[key]["source_partition"], by_key[key]["source_offset"]) == (
            partition,
            offset,
        )
    deployment.wait_for(
        "audit", lambda values: {v["task_id"] for v in values} >= {str(t.task_id) for t in expected}
    )

    task = next(t for t in expected if t.recipient == "kronofogden")
    wrong = update(str(task.task_id), "skatteverket", TaskStatus.COMPLETED)
    right = update(str(task.task_id), "kronofogden", TaskStatus.COMPLETED)
    # Skatteverket reports on Kronofogden's task from its own topic; a forger writes an
    # update naming Skatteverket on Kronofogden's topic: the topic is the agency's identity.
    (wrong_at,) = deployment.publish(
        "task-updates.skatteverket", [(str(task.task_id), encode(wrong))]
    )
    (forged_at,) = deployment.publish(
        "task-updates.kronofogden", [(str(task.task_id), encode(wrong))]
    )
    deployment.report([(str(task.task_id), encode(right))])
    rejected = deployment.wait_for("rejected", lambda values: len(values) >= 6)
    by_place = {
        (r["source_topic"], r["source_partition"], r["source_offset"]): r
        for r in rejected
        if r["error_code"] == "wrong_agency"
    }
    agency = by_place[(deployment.topic("task-updates.skatteverket"), *wrong_at)]
    assert "belongs to kronofogden; skatteverket may not update it" in agency["message"]
    forged = by_place[(deployment.topic("task-updates.kronofogden"), *forged_at)]
    assert "names skatteverket but arrived on kronofogden's status topic" in forged["message"]
    assert len(by_place) == 2
    snapshots = deployment.wait_for(
        "completion",
        lambda values: any(s["tasks_completed"] == 1 for s in _snapshots(values, "INC-IT-GOOD")),
    )
    completed = [
        t for t in _snapshots(snapshots, "INC-IT-GOOD")[-1]["tasks"] if t["status"] == "completed"
    ]
    assert [t["task_id"] for t in completed] == [str(task.task_id)]


def test_retraction_cancels_open_tasks_with_a_reason(deployment: Deployment) -> None:
    deployment.start_worker()
    group = notified_group()
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-RETRACT")
    expected = expected_tasks(reported, group)
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    deployment.wait_for("audit", lambda values: len(values) >= len(expected))
    withdrawal = retraction(reported, "the explosion was an accident (invented)")
    deployment.publish("incidents", [(withdrawal.incident_id, encode(withdrawal))])
    snapshots = deployment.wait_for(
        "completion",
        lambda values: any(
            s["progress"] == "cancelled" for s in _snapshots(values, "INC-IT-RETRACT")
        ),
    )
    final = _snapshots(snapshots, "INC-IT-RETRACT")[-1]
    assert final["by_status"] == {"cancelled": len(expected)}
    assert final["incident_version"] == 2
    notices = [v for v in deployment.values("tasks.skatteverket") if v["status"] == "cancelled"]
    assert len(notices) == sum(1 for t in expected if t.recipient == "skatteverket")
    assert all(
        "retracted" in v["status_reason"] and "accident" in v["status_reason"] for v in notices
    )


def test_reattribution_cancels_the_old_groups_tasks_and_adds_the_new(
    deployment: Deployment,
) -> None:
    deployment.start_worker()
    first_group, second_group = notified_group("GRP-IT-FIRST"), notified_group("GRP-IT-SECOND")
    deployment.register_groups(first_group, second_group)
    reported = fresh_incident("INC-IT-MOVED", group_id="GRP-IT-FIRST")
    before = expected_tasks(reported, first_group, second_group)
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    deployment.wait_for("audit", lambda values: len(values) >= len(before))
    corrected = IncidentCorrected(
        **{**reported.model_dump(exclude={"kind", "version", "attributions"})},
        version=2,
        attributions=(attribution("GRP-IT-SECOND"),),
    )
    after = expected_tasks(corrected, first_group, second_group)
    deployment.publish("incidents", [(corrected.incident_id, encode(corrected))])

    def settled(snapshot: dict[str, Any]) -> bool:
        by_group = Counter((t["group_id"], t["status"]) for t in snapshot["tasks"])
        return (
            snapshot["incident_version"] == 2
            and by_group[("GRP-IT-FIRST", "cancelled")] == len(before)
            and by_group[("GRP-IT-SECOND", "delivered")] == len(after)
        )

    snapshots = deployment.wait_for(
        "completion",
        lambda values: any(settled(s) for s in _snapshots(values, "INC-IT-MOVED")),
    )
    final = next(s for s in _snapshots(snapshots, "INC-IT-MOVED") if settled(s))
    assert final["tasks_open"] == len(after)
    by_group = Counter((t["group_id"], t["status"]) for t in final["tasks"])
    assert by_group[("GRP-IT-FIRST", "cancelled")] == len(before)
    assert by_group[("GRP-IT-SECOND", "delivered")] == len(after)
    patrol = deployment.values("tasks.police-patrol-huddinge")
    notices = [v for v in patrol if v["status"] == "cancelled"]
    assert notices
    assert all(
        "no longer attributes it to group GRP-IT-FIRST" in v["status_reason"] for v in notices
    )


def test_missed_deadlines_escalate_once(deployment: Deployment) -> None:
    deployment.start_worker()
    group = notified_group()
    deployment.register_groups(group)
    now = datetime.now(UTC).replace(microsecond=0)
    late = fresh_incident(
        "INC-IT-LATE", occurred_at=now - timedelta(hours=31), reported_at=now - timedelta(hours=30)
    )
    expected = expected_tasks(late, group)
    overdue = {str(t.task_id) for t in expected if t.deadline < now}
    assert {t.action for t in expected if str(t.task_id) in overdue} == {
        "patrol-focus",
        "investigation-priority",
    }
    deployment.publish("incidents", [(late.incident_id, encode(late))])
    escalations = deployment.wait_for("escalations", lambda values: len(values) >= len(overdue))
    deployment.wait_for_log('"overdue tasks found"')
    time.sleep(3)  # three more timer rounds: no second escalation for the same task
    escalations = deployment.values("escalations")
    assert Counter(e["task_id"] for e in escalations) == Counter(
        {task_id: 1 for task_id in overdue}
    )
    assert {e["reason"] for e in escalations} == {"overdue"}
    assert all("has not completed" in e["message"] for e in escalations)
    snapshots = deployment.wait_for(
        "completion",
        lambda values: any(
            sum(t["escalated"] for t in s["tasks"]) == len(overdue)
            for s in _snapshots(values, "INC-IT-LATE")
        ),
    )
    final = _snapshots(snapshots, "INC-IT-LATE")[-1]
    flagged = {t["task_id"] for t in final["tasks"] if t["overdue"] and t["escalated"]}
    assert flagged == overdue
    assert final["tasks_overdue"] == len(overdue)


def _samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A worker's `/metrics` (none while the worker does not answer yet)."""
    try:
        return metric_samples(url)
    except httpx.HTTPError:
        return {}


def _tasks_counted(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return sum(value for (name, _), value in samples.items() if name == "gvi_tasks")


def test_a_restarted_worker_escalates_the_late_tasks_it_recovered_without_waiting_a_tick(
    deployment: Deployment,
) -> None:
    """The deadline timer passes over the task table as soon as the tables are recovered, not
    an interval later: tasks past their deadline that a stopped worker kept are escalated by
    the next one long before its first tick (an hour here)."""
    first = deployment.start_worker(overdue_check_seconds=3600)
    limit = time.monotonic() + 60
    while sample(_samples(first.web_url), "gvi_deadline_ticks_total", outcome="pass") < 1:
        assert time.monotonic() < limit, "no pass over the (empty) task table after recovery"
        time.sleep(0.3)
    group = notified_group()
    deployment.register_groups(group)
    now = datetime.now(UTC).replace(microsecond=0)
    late = fresh_incident(
        "INC-IT-RECOVERED-LATE",
        occurred_at=now - timedelta(hours=31),
        reported_at=now - timedelta(hours=30),
    )
    expected = expected_tasks(late, group)
    overdue = {str(t.task_id) for t in expected if t.deadline < now}
    assert overdue
    deployment.publish("incidents", [(late.incident_id, encode(late))])
    limit = time.monotonic() + 60
    while _tasks_counted(_samples(first.web_url)) < len(expected):
        assert time.monotonic() < limit, "the first worker did not keep every task"
        time.sleep(0.3)
    # The first worker's pass was over the empty table and its next tick is an hour away: the
    # tasks it kept, late from the start, wait (its own writes only move the watch's moment).
    assert deployment.values("escalations") == []
    first.stop()

    deployment.start_worker(overdue_check_seconds=3600)
    escalations = deployment.wait_for("escalations", lambda values: len(values) >= len(overdue))
    assert Counter(e["task_id"] for e in escalations) == Counter(dict.fromkeys(overdue, 1))
    assert {e["reason"] for e in escalations} == {"overdue"}

"""Outside systems with librdkafka's defaults (CRC32 partitioner, any codec) get the same state."""

import collections
import json
import time

import pytest

from events.codec import encode
from events.partitioning import partition_of
from schemas import TaskStatus
from tests.support.deployment import Deployment
from tests.support.outside_clients import librdkafka_publish, librdkafka_report
from tests.support.scenario import (
    expected_tasks,
    fresh_incident,
    notified_group,
    retraction,
    update,
)

pytestmark = pytest.mark.broker


def _task_states(deployment: Deployment) -> dict[str, str]:
    """Every task's status in the worker's task table, from its changelog (last value wins)."""
    changelog = f"{deployment.settings.app_id}-tasks-changelog"
    states: dict[str, str] = {}
    for record in deployment.read(changelog):
        if record.value:
            states[json.loads(record.key or '""')] = json.loads(record.value)["task"]["status"]
    return states


def test_librdkafka_producers_give_the_same_state_across_two_workers_and_a_restart(
    deployment: Deployment,
) -> None:
    publish = deployment.bootstrap
    deployment.start_worker()
    deployment.start_worker()
    group = notified_group("GRP-IT-RDK")
    placed_group = librdkafka_publish(
        publish, deployment.topic("groups"), [(group.group_id, encode(group))]
    )
    reported = fresh_incident("INC-IT-RDK-1", group.group_id)
    expected = expected_tasks(reported, group)
    deployment.wait_for_log('"group registered"', limit=90)
    librdkafka_publish(
        publish, deployment.topic("incidents"), [(reported.incident_id, encode(reported))]
    )
    deployment.wait_for("audit", lambda values: len(values) >= len(expected))

    acknowledgements = [
        (str(t.task_id), encode(update(str(t.task_id), t.recipient, TaskStatus.ACKNOWLEDGED)))
        for t in expected
    ]
    placed = librdkafka_report(publish, deployment.settings.topic_prefix, acknowledgements)
    misplaced = [p for p in placed if p.partition != partition_of(p.key or "", 4)]
    assert len(misplaced) >= len(expected) // 2, "librdkafka placed most keys as murmur2 does"
    assert placed_group and all(p.partition >= 0 for p in placed_group)
    deployment.wait_for(
        "completion",
        lambda values: any(
            s["incident_id"] == reported.incident_id
            and s["by_status"].get("acknowledged") == len(expected)
            for s in values
        ),
    )

    withdrawal = retraction(reported, "attribution withdrawn (invented)")
    librdkafka_publish(
        publish, deployment.topic("incidents"), [(reported.incident_id, encode(withdrawal))]
    )
    deployment.wait_for(
        "completion",
        lambda values: any(
            s["incident_id"] == reported.incident_id and s["progress"] == "cancelled"
            for s in values
        ),
    )
    for worker in deployment.workers:
        worker.stop()
    deployment.start_worker()
    late_completions = [
        (str(t.task_id), encode(update(str(t.task_id), t.recipient, TaskStatus.COMPLETED)))
        for t in expected
    ]
    librdkafka_report(publish, deployment.settings.topic_prefix, late_completions)
    rejected = deployment.wait_for(
        "rejected",
        lambda values: (
            sum(r["error_code"] == "invalid_transition" for r in values) >= len(expected)
        ),
    )
    assert len(rejected) == len(expected), collections.Counter(
        (r["error_code"], r["source_partition"], r["source_offset"]) for r in rejected
    )
    by_offset = {(r["source_topic"], r["source_partition"], r["source_offset"]) for r in rejected}
    reporters = {deployment.topic(f"task-updates.{t.recipient}") for t in expected}
    assert all(r["source_topic"] in reporters for r in rejected)
    assert len(by_offset) == len(expected)

    states = _task_states(deployment)
    assert {str(t.task_id): "cancelled" for t in expected} == {
        task_id: states[task_id] for task_id in (str(t.task_id) for t in expected)
    }
    time.sleep(1)
    snapshots = [
        s for s in deployment.values("completion") if s["incident_id"] == reported.incident_id
    ]
    assert snapshots[-1]["progress"] == "cancelled"
    assert snapshots[-1]["percent_complete"] == 0.0


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_every_compression_codec_is_read(deployment: Deployment, codec: str) -> None:
    deployment.start_worker()
    group = notified_group(f"GRP-IT-{codec.upper()}")
    reported = fresh_incident(f"INC-IT-{codec.upper()}", group.group_id)
    expected = expected_tasks(reported, group)
    librdkafka_publish(
        deployment.bootstrap,
        deployment.topic("groups"),
        [(group.group_id, encode(group))],
        **{"compression.type": codec},
    )
    deployment.wait_for_log('"group registered"', limit=90)
    librdkafka_publish(
        deployment.bootstrap,
        deployment.topic("incidents"),
        [(reported.incident_id, encode(reported))],
        **{"compression.type": codec, "linger.ms": "50"},
    )
    audit = deployment.wait_for("audit", lambda values: len(values) >= len(expected))
    assert {a["task_id"] for a in audit} == {str(t.task_id) for t in expected}
    assert deployment.values("rejected") == []

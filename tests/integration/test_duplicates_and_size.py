"""Two defects found by outside testing, on a real broker: a duplicate planned again with
today's history, and a message too large once decompressed to be forwarded."""

import json
from datetime import timedelta

import pytest

from events.codec import encode
from schemas import TaskStatus
from tests.support.deployment import Deployment
from tests.support.outside_clients import librdkafka_publish
from tests.support.scenario import (
    expected_tasks,
    fresh_incident,
    notified_group,
    retraction,
    update,
)

pytestmark = pytest.mark.broker


def _ends(deployment: Deployment, suffixes: list[str]) -> dict[str, int]:
    return {suffix: len(deployment.read(deployment.topic(suffix))) for suffix in suffixes}


def test_a_duplicate_of_a_repeat_changes_nothing_after_the_earlier_incident_is_retracted(
    deployment: Deployment,
) -> None:
    deployment.start_worker()
    group = notified_group("GRP-IT-DUP")
    deployment.register_groups(group)
    first = fresh_incident("INC-IT-DUP-A", group.group_id)
    second = fresh_incident(
        "INC-IT-DUP-B",
        group.group_id,
        occurred_at=first.occurred_at + timedelta(minutes=10),
        reported_at=first.reported_at + timedelta(minutes=1),
    )
    deployment.publish("incidents", [(first.incident_id, encode(first))])
    deployment.wait_for(
        "completion", lambda v: any(s["incident_id"] == first.incident_id for s in v)
    )
    deployment.publish("incidents", [(second.incident_id, encode(second))])
    snapshots = deployment.wait_for(
        "completion", lambda v: any(s["incident_id"] == second.incident_id for s in v)
    )
    planned = [s for s in snapshots if s["incident_id"] == second.incident_id][-1]["tasks"]
    first_time = {str(t.task_id) for t in expected_tasks(second, group)}
    assert {t["task_id"] for t in planned} != first_time, "B repeats A: another tier's tasks"
    deployment.publish("incidents", [(first.incident_id, encode(retraction(first, "invented")))])
    deployment.wait_for_done("group planned", count=3)
    done = [t for t in planned if t["recipient"] == "skatteverket"]
    deployment.report(
        [
            (t["task_id"], encode(update(t["task_id"], "skatteverket", TaskStatus.COMPLETED)))
            for t in done
        ]
    )
    deployment.wait_for_done("task changed", count=len(done))

    recipients = [f"tasks.{r}" for r in sorted({t["recipient"] for t in planned})]
    watched = [*recipients, "tasks.kronofogden", "audit", "completion", "rejected"]
    deployment.wait_for("completion", lambda v: len(v) >= 1)
    before = _ends(deployment, watched)
    deployment.publish("incidents", [(second.incident_id, encode(second))])
    deployment.wait_for_log("incident version already planned")
    deployment.publish("incidents", [("INC-IT-DUP-MARK", b"[]")])
    deployment.wait_for("rejected", lambda v: len(v) > before["rejected"])
    after = _ends(deployment, watched)
    assert after == {**before, "rejected": before["rejected"] + 1}


@pytest.mark.parametrize("field", ["narrative", "alias", "reason"])
def test_a_gzip_message_of_two_megabytes_is_answered_once_as_too_large(
    deployment: Deployment, field: str
) -> None:
    worker = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready")
    huge = "x" * 2_000_000
    if field == "narrative":
        document = json.loads(encode(fresh_incident("INC-IT-HUGE")))
        document["narrative"] = huge
        suffix, keys = "incidents", [f"INC-IT-HUGE-{n}" for n in range(4)]
    elif field == "alias":
        document = json.loads(encode(notified_group("GRP-IT-HUGE")))
        document["alias"] = huge
        suffix, keys = "groups", [f"GRP-IT-HUGE-{n}" for n in range(4)]
    else:
        task_id = "0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
        change = update(task_id, "kronofogden", TaskStatus.DECLINED, "invented")
        document = json.loads(encode(change))
        document["reason"] = huge
        suffix, keys = "task-updates.kronofogden", [task_id]
    placed = librdkafka_publish(
        deployment.bootstrap,
        deployment.topic(suffix),
        [(key, json.dumps(document).encode()) for key in keys],
        **{"compression.type": "gzip", "message.max.bytes": "10000000"},
    )
    rejected = deployment.wait_for("rejected", lambda v: len(v) >= len(keys))
    deployment.publish("incidents", [("INC-IT-HUGE-MARK", b"[]")])
    rejected = deployment.wait_for("rejected", lambda v: len(v) >= len(keys) + 1)
    answers = [
        r
        for r in rejected
        if r["source_topic"] == deployment.topic(suffix) and r["source_key"] != "INC-IT-HUGE-MARK"
    ]
    assert sorted((r["source_partition"], r["source_offset"]) for r in answers) == sorted(
        (p.partition, p.offset) for p in placed
    ), "each message answered once, where it was published"
    assert {r["error_code"] for r in answers} == {"too_large"}
    assert "Traceback" not in worker.log()
    assert "MessageSizeTooLarge" not in worker.log()

"""A worker whose tables are on RocksDB is killed and restarted on the same folder: it keeps its
state from its files, applying only the changelog records its files do not hold yet, and loses
nothing."""

from pathlib import Path

import pytest

from events.codec import encode
from tests.support.deployment import Deployment, WorkerProcess
from tests.support.gateway_stack import metric_samples
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, retraction

pytestmark = pytest.mark.broker

APPLIED = "gvi_table_changelog_records_applied_total"


def _applied(worker: WorkerProcess) -> float:
    """Changelog records the worker applied to its tables since it started (all tables)."""
    samples = metric_samples(worker.web_url)
    return sum(value for (name, _), value in samples.items() if name == APPLIED)


def _peak_rss_mib(worker: WorkerProcess) -> float:
    """VmHWM of the worker process (reported, not asserted: memory is measured in benchmarks)."""
    status = Path(f"/proc/{worker.process.pid}/status").read_text("utf-8")
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kib / 1024


def test_a_killed_worker_on_rocksdb_restarts_from_its_files_and_loses_nothing(
    deployment: Deployment,
) -> None:
    store = {"table_store": "rocksdb://", "data_dir": deployment.tmp_path / "rocksdb-data"}
    first = deployment.start_worker(**store)
    deployment.wait_for_log("[^Worker]: Ready", limit=120)
    groups = [notified_group(f"GRP-IT-ROCKS-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    incidents = [fresh_incident(f"INC-IT-ROCKS-{n:02d}", groups[n % 3].group_id) for n in range(12)]
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents])
    before = {str(t.task_id) for i in incidents for t in expected_tasks(i, *groups)}
    deployment.wait_for(
        "tasks.police-patrol-huddinge",
        lambda values: len({v["task_id"] for v in values}) >= 12,
        limit=180,
    )
    deployment.wait_for(
        "completion",
        lambda values: {v["incident_id"] for v in values} >= {i.incident_id for i in incidents},
        limit=180,
    )
    changelogs = [
        f"{deployment.settings.app_id}-{table}-changelog"
        for table in ("incidents", "groups", "group-plans", "incident-plans", "tasks")
    ]
    written = sum(len(deployment.read(topic)) for topic in changelogs)
    assert written >= 100, f"too little state to tell a recovery from a re-read: {written}"
    first.kill()

    second = deployment.start_worker(**store)
    deployment.wait_for_log("[^Worker]: Ready", count=2, limit=180)
    applied = _applied(second)
    # Without its files the worker would apply every record of every changelog again.
    assert applied * 4 < written, f"re-read {applied:.0f} of {written} changelog records"
    print(
        f"rocksdb restart: applied {applied:.0f} of {written} changelog records; "
        f"restarted worker's peak RSS {_peak_rss_mib(second):.0f} MiB"
    )

    # The restarted worker still knows every incident's plan: retracting the first incident
    # cancels each of its tasks, which only a worker holding that plan can name.
    withdrawn = incidents[0]
    deployment.publish(
        "incidents",
        [(withdrawn.incident_id, encode(retraction(withdrawn, "attributed by mistake")))],
    )
    cancelled = {str(t.task_id) for t in expected_tasks(withdrawn, *groups)}
    deployment.wait_for(
        "completion",
        lambda values: any(
            v["incident_id"] == withdrawn.incident_id and v["progress"] == "cancelled"
            for v in values
        ),
        limit=120,
    )
    # And nothing was lost: every task of every incident is in the task table.
    stored = {
        record.key.strip('"')
        for record in deployment.read(f"{deployment.settings.app_id}-tasks-changelog")
        if record.key
    }
    assert before <= stored, f"{len(before - stored)} tasks missing from the table"
    notices = {
        v["task_id"]
        for recipient in {t.recipient for t in expected_tasks(withdrawn, *groups)}
        for v in deployment.values(f"tasks.{recipient}")
        if v["status"] == "cancelled"
    }
    assert cancelled <= notices, f"{len(cancelled - notices)} tasks never cancelled"

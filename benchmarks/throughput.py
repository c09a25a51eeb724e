"""Throughput, latency and memory of the worker against a raw aiokafka consume→produce loop.

Run: `make bench` (embedded broker) or `GVI_TEST_BROKER=kafka make bench` (Apache Kafka).
"""

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.codec import encode
from schemas import (
    Attribution,
    GroupMember,
    GroupProfile,
    IncidentReported,
    IncidentType,
    Notification,
    NotificationKind,
    Outcome,
    SupervisionStatus,
)
from tests.support.brokers import running_broker
from workers.core.partnerships import PolicyBook
from workers.core.planner import plan
from workers.core.policy import Policy
from workers.policies import load_policy
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.kafka_clients import follow, publish, wait_for_keys
from workers.tools.processes import start_worker_process

POLICY = load_policy()
BOOK = PolicyBook(POLICY)


def policy_for(incident: IncidentReported) -> Policy:
    """The playbook the worker plans `incident` with: its municipality's partnership's."""
    return BOOK.for_incident(incident, None)


async def create_topics(bootstrap: str, *names: str) -> None:
    """Topics of 4 partitions for a benchmark's own loops."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 4, 1) for name in names])
    finally:
        await admin.close()


async def raw_loop(bootstrap: str, count: int) -> float:
    """Messages per second of a plain consume → produce-and-wait loop, the floor of any worker."""
    source, sink = f"bench-raw-in-{os.getpid()}", f"bench-raw-out-{os.getpid()}"
    await create_topics(bootstrap, source, sink)
    payload = b"x" * 700
    await publish(bootstrap, source, [(f"k{n}", payload) for n in range(count)])
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{os.getpid()}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        seen = 0
        started = 0.0
        async for message in consumer:
            if seen == 0:
                started = time.perf_counter()
            await (await producer.send(sink, key=message.key, value=message.value))
            seen += 1
            if seen == count:
                break
        return (count - 1) / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


def _group(number: int, now: datetime) -> GroupProfile:
    return GroupProfile(
        group_id=f"BENCH-GRP-{number}",
        alias=f"Bench group {number} (invented)",
        municipality="Uppsala",
        members=(
            GroupMember(person_ref=f"BENCH-P-{number}-1", supervision=SupervisionStatus.PAROLE),
            GroupMember(person_ref=f"BENCH-P-{number}-2"),
        ),
        notifications=(
            Notification(
                kind=NotificationKind.CALL_IN, delivered_at=now - timedelta(days=30), agency="bench"
            ),
        ),
        updated_at=now,
    )


def _incident(number: int, group_id: str, now: datetime) -> IncidentReported:
    return IncidentReported(
        incident_id=f"BENCH-INC-{number:05d}",
        version=1,
        occurred_at=now - timedelta(minutes=30),
        reported_at=now - timedelta(minutes=5),
        municipality="Uppsala",
        police_area="LPO Uppsala",
        incident_type=IncidentType.SHOOTING,
        outcome=Outcome.NONE,
        attributions=(
            Attribution(group_id=group_id, confidence=0.9, attributed_by="bench", basis="invented"),
        ),
        source_system="bench",
    )


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def _completed(bootstrap: str, topic: str, incidents: dict[str, int], limit: float) -> float:
    """Wait until every incident's snapshot counts all its planned tasks as delivered."""
    remaining = dict(incidents)
    async for record in follow(bootstrap, topic, limit):
        snapshot = json.loads(record.value or b"{}")
        wanted = remaining.get(snapshot.get("incident_id", ""))
        if wanted is not None and snapshot["by_status"].get("delivered", 0) == wanted:
            del remaining[snapshot["incident_id"]]
            if not remaining:
                return time.perf_counter()
    raise TimeoutError(f"{len(remaining)} incidents never fully dispatched")


async def worker_run(
    settings: Settings, incidents_count: int, groups_count: int
) -> dict[str, float]:
    bootstrap = settings.bootstrap_servers
    prefix = settings.topic_prefix
    now = datetime.now(UTC)
    groups = [_group(n, now) for n in range(groups_count)]
    incidents = [
        _incident(n, groups[n % groups_count].group_id, now) for n in range(incidents_count)
    ]
    tasks_per_incident = {
        i.incident_id: len(plan(i, {g.group_id: g for g in groups}, {}, policy_for(i)).tasks)
        for i in incidents
    }
    await publish(bootstrap, f"{prefix}groups", [(g.group_id, encode(g)) for g in groups])
    await wait_for_keys(
        bootstrap, f"{settings.app_id}-groups-changelog", [f'"{g.group_id}"' for g in groups], 120
    )

    latencies = []
    for probe in incidents[:10]:
        sent = time.perf_counter()
        await publish(bootstrap, f"{prefix}incidents", [(probe.incident_id, encode(probe))])
        await _completed(
            bootstrap,
            f"{prefix}completion",
            {probe.incident_id: tasks_per_incident[probe.incident_id]},
            60,
        )
        latencies.append(time.perf_counter() - sent)

    bulk = incidents[10:]
    started = time.perf_counter()
    await publish(bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in bulk])
    finished = await _completed(
        bootstrap,
        f"{prefix}completion",
        {i.incident_id: tasks_per_incident[i.incident_id] for i in bulk},
        600,
    )
    seconds = finished - started
    tasks = sum(tasks_per_incident[i.incident_id] for i in bulk)
    return {
        "incidents": len(bulk),
        "tasks": tasks,
        "seconds": seconds,
        "incidents_per_s": len(bulk) / seconds,
        "tasks_per_s": tasks / seconds,
        "latency_p50_s": statistics.median(latencies),
        "latency_max_s": max(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=210)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--raw-messages", type=int, default=3000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_broker(Path(scratch)) as url:
        settings = Settings(broker_url=url, topic_prefix="bench.", app_id=f"bench-{os.getpid()}")
        raw_rate = asyncio.run(raw_loop(settings.bootstrap_servers, arguments.raw_messages))
        raw_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        own = settings.model_copy(
            update={
                "web_port": free_port(),
                "data_dir": Path(scratch) / "data",
                "log_level": "warning",
            }
        )
        worker = start_worker_process(own, Path(scratch) / "worker.log")
        try:
            result = asyncio.run(worker_run(settings, arguments.incidents, arguments.groups))
            worker_rss = _peak_rss_kib(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    # Each task costs the worker at least 3 acknowledged writes (task view, audit, task event);
    # the raw loop does 1 per message. The ratio compares message rates, not task rates.
    worker_messages_per_s = result["tasks_per_s"] * 3
    report = {
        "broker": os.environ.get("GVI_TEST_BROKER", "tansu"),
        "raw_loop_messages_per_s": round(raw_rate, 1),
        "worker": {key: round(value, 3) for key, value in result.items()},
        "worker_acknowledged_writes_per_s": round(worker_messages_per_s, 1),
        "ratio_worker_writes_to_raw_loop": round(worker_messages_per_s / raw_rate, 3),
        "peak_rss_mib": {
            "worker": round(worker_rss / 1024, 1),
            "bench_process_raw_loop": round(raw_rss / 1024, 1),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

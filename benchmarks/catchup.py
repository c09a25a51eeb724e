"""Catch-up: incidents queued while no worker ran; the worker against a raw aiokafka floor.

Run: `make bench-catchup` (embedded broker) or `GVI_TEST_BROKER=kafka make bench-catchup`.
Also counts, from the topics, the messages and changelog writes per incident, and the worker's
peak RSS with every task it dispatched still open.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.throughput import _group, _incident, _peak_rss_kib
from events.admin import ensure_topics
from events.catalogue import build_catalogue
from events.codec import decode, encode
from schemas import GroupProfile, IncidentReported
from tests.brokers import running_broker
from workers.app import TABLES
from workers.core.planner import plan
from workers.core.policy import load_policy
from workers.core.projection import project_task
from workers.embedded_broker import free_port
from workers.kafka_tools import follow
from workers.settings import Settings
from workers.worker_process import start_worker_process

POLICY = load_policy()


async def publish_all(bootstrap: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    """Send every message, then wait for all acknowledgements (setting up, not measured)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        acks = [await producer.send(topic, key=k.encode(), value=v) for k, v in messages]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Messages per topic (sum of the partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer.topics()  # a metadata refresh for every topic
        totals = {}
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            totals[topic] = sum(ends.values())
        return totals
    finally:
        await consumer.stop()


async def raw_floor(
    bootstrap: str, source: str, groups: dict[str, GroupProfile], count: int
) -> tuple[float, int]:
    """A raw aiokafka loop: consume incidents in batches, plan each with the same pure planner,
    produce every task's view to its recipient's topic, await the batch's acknowledgements
    together, commit. Returns (seconds, tasks)."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-floor-{os.getpid()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()
    seen = tasks = 0
    started = time.perf_counter()
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            acks = []
            for records in batches.values():
                for record in records:
                    incident = decode(IncidentReported, record.value)
                    for task in plan(incident, groups, {}, POLICY).tasks:
                        group = groups[task.group_id]
                        view = project_task(task, incident, group, POLICY)
                        topic = f"floor.tasks.{task.recipient}"
                        acks.append(
                            await producer.send(
                                topic, key=str(task.task_id).encode(), value=encode(view)
                            )
                        )
                        tasks += 1
                    seen += 1
            await asyncio.gather(*acks)
            await consumer.commit()
        return time.perf_counter() - started, tasks
    finally:
        await consumer.stop()
        await producer.stop()


async def _all_delivered(
    bootstrap: str, topic: str, wanted: dict[str, int], limit: float
) -> tuple[float, float]:
    """When the first snapshot came, and when the last incident had every task delivered."""
    remaining = dict(wanted)
    first = 0.0
    async for record in follow(bootstrap, topic, limit):
        first = first or time.perf_counter()
        snapshot = json.loads(record.value or b"{}")
        count = remaining.get(snapshot.get("incident_id", ""))
        if count is not None and snapshot["by_status"].get("delivered", 0) == count:
            del remaining[snapshot["incident_id"]]
            if not remaining:
                return first, time.perf_counter()
    raise TimeoutError(f"{len(remaining)} incidents never fully dispatched")


async def worker_catchup(settings: Settings, count: int, scratch: Path) -> dict[str, float]:
    bootstrap, prefix = settings.bootstrap_servers, settings.topic_prefix
    now = datetime.now(UTC)
    groups = {g.group_id: g for g in (_group(n, now) for n in range(20))}
    names = list(groups)
    incidents = [_incident(n, names[n % len(names)], now) for n in range(count)]
    expected = {i.incident_id: len(plan(i, groups, {}, POLICY).tasks) for i in incidents}
    catalogue = build_catalogue(prefix, settings.partitions, POLICY.recipient_ids)
    changelogs = [f"{settings.app_id}-{table}-changelog" for table in TABLES]
    await ensure_topics(bootstrap, catalogue, 1, changelogs)
    await publish_all(bootstrap, f"{prefix}groups", [(g, encode(p)) for g, p in groups.items()])
    await publish_all(
        bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in incidents]
    )

    floor_source = f"floor-incidents-{os.getpid()}"
    floor_catalogue = build_catalogue("floor.", settings.partitions, POLICY.recipient_ids)
    await ensure_topics(bootstrap, floor_catalogue, 1)
    await publish_all(bootstrap, floor_source, [(i.incident_id, encode(i)) for i in incidents])
    floor_seconds, floor_tasks = await raw_floor(bootstrap, floor_source, groups, count)

    own = settings.model_copy(
        update={"web_port": free_port(), "data_dir": scratch / "data", "log_level": "warning"}
    )
    started = time.perf_counter()
    worker = start_worker_process(own, scratch / "worker.log")
    try:
        first, finished = await _all_delivered(bootstrap, f"{prefix}completion", expected, 1800)
        rss = _peak_rss_kib(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    seconds = finished - started
    working = finished - first
    tasks = sum(expected.values())
    internal = [
        spec.name
        for spec in catalogue.all()
        if spec.name not in (f"{prefix}incidents", f"{prefix}groups", f"{prefix}task-updates")
    ]
    counted = await end_offsets(bootstrap, [*internal, *changelogs])
    messages = sum(counted[name] for name in internal) + count
    writes = sum(counted[name] for name in changelogs)
    return {
        "incidents": count,
        "tasks": tasks,
        "worker_seconds": round(seconds, 1),
        "worker_tasks_per_s": round(tasks / seconds, 1),
        "worker_seconds_after_first_snapshot": round(working, 1),
        "worker_tasks_per_s_after_start": round(tasks / working, 1),
        "floor_seconds": round(floor_seconds, 1),
        "floor_tasks_per_s": round(floor_tasks / floor_seconds, 1),
        "ratio_to_floor": round(floor_seconds / seconds, 3),
        "ratio_to_floor_after_start": round(floor_seconds / working, 3),
        "messages_per_incident": round(messages / count, 1),
        "changelog_writes_per_incident": round(writes / count, 1),
        "worker_peak_rss_mib": round(rss / 1024, 1),
        "open_tasks_at_peak": tasks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=5000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_broker(Path(scratch)) as url:
        settings = Settings(
            broker_url=url, topic_prefix="catchup.", app_id=f"catchup-{os.getpid()}"
        )
        result = asyncio.run(worker_catchup(settings, arguments.incidents, Path(scratch)))
    report = {"broker": os.environ.get("GVI_TEST_BROKER", "tansu"), **result}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

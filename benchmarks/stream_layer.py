"""The stream layer's table: catch-up, latency at a steady rate, messages per incident, memory.

Run: `make bench` (embedded broker) or `GVI_TEST_BROKER=kafka make bench` (Apache Kafka). Each
row of the worker is measured in the same run as its floor, a raw aiokafka loop on the same
broker that consumes incidents, plans them with the same pure planner and produces every task
to its recipient's topic.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.collector_pauses import CollectorPauses, broker_pauses
from benchmarks.cpu_split import CpuTimes, broker_cpu_seconds, cpu_times
from benchmarks.in_process import measured_apart
from benchmarks.throughput import _group, _incident, _peak_rss_kib, create_topics, policy_for
from benchmarks.without_faust import prepare_topics, stages_apart
from benchmarks.worker_profile import Sampler
from events.admin import ensure_topics
from events.catalogue import build_catalogue
from events.codec import decode, encode
from schemas import GroupProfile, IncidentReported
from tests.support.brokers import running_broker
from workers.core.planner import plan
from workers.core.projection import project_task
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream.app import TABLES
from workers.tools.embedded_broker import free_port
from workers.tools.processes import start_worker_process

POLICY = load_policy()
IN_PROCESS_INCIDENTS = 2000
"""Incidents of the in-process harness run beside the catch-up, as the machine's reference."""
Groups = dict[str, GroupProfile]


async def publish_all(bootstrap: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    """Send every message, then wait for all acknowledgements (setting up, not measured)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        acks = [await producer.send(topic, key=k.encode(), value=v) for k, v in messages]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: list[str], partitions: int) -> dict[str, int]:
    """Messages per topic: the sum of the end offsets of the partitions the broker lists for it
    (0 for a topic it does not know; `partitions` is the fallback count)."""
    listed = await listed_partitions(bootstrap, topics, partitions)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return await ends_of(consumer, topics, listed)
    finally:
        await consumer.stop()


async def listed_partitions(
    bootstrap: str, topics: list[str], partitions: int
) -> dict[str, list[int]]:
    """The partitions the broker lists for each of `topics` it knows (`partitions` is the
    fallback count)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        str(entry["topic"]): [int(p["partition"]) for p in entry["partitions"]]
        or list(range(partitions))
        for entry in described
        if entry["error_code"] == 0
    }


async def ends_of(
    consumer: AIOKafkaConsumer, topics: list[str], listed: dict[str, list[int]]
) -> dict[str, int]:
    """Messages per topic, from one request for the end offsets of every listed partition."""
    wanted = [TopicPartition(t, p) for t in topics for p in listed.get(t, ())]
    ends = await consumer.end_offsets(wanted) if wanted else {}
    totals = dict.fromkeys(topics, 0)
    for partition, end in ends.items():
        totals[partition.topic] += end
    return totals


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
                    policy = policy_for(incident)
                    for task in plan(incident, groups, {}, policy).tasks:
                        group = groups[task.group_id]
                        view = project_task(task, incident, group, policy)
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


async def without_faust_catch_up(
    bootstrap: str,
    groups: Groups,
    queued: list[IncidentReported],
    profile: str | None = None,
    client: str = "aiokafka",
) -> dict[str, Any]:
    """The worker's stages on one Kafka client alone (`benchmarks/without_faust.py`: aiokafka
    or librdkafka) catching up on the same incidents, on topics of their own."""
    prefix = f"nofaust{os.getpid()}{client}."
    catalogue = await prepare_topics(bootstrap, prefix)
    profiles = [(group_id, encode(group)) for group_id, group in groups.items()]
    await publish_all(bootstrap, catalogue.groups.name, profiles)
    incidents = [(incident.incident_id, encode(incident)) for incident in queued]
    await publish_all(bootstrap, catalogue.incidents.name, incidents)
    expected = len(expected_tasks(queued, groups))
    broker_before = broker_cpu_seconds()
    figures = await stages_apart(bootstrap, prefix, len(queued), expected, profile, client)
    broker_after = broker_cpu_seconds()
    figures["tasks_per_s"] = round(figures["tasks"] / figures["seconds_to_last_task"], 1)
    figures["broker_cpu_ms_per_incident"] = _per_incident(broker_before, broker_after, len(queued))
    return figures


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the least value that `share` of the values do not exceed
    (of 100 values, p99 is the 99th smallest; before run 27 this took the next rank: the
    slowest of 100)."""
    ordered = sorted(values)
    rank = math.ceil(round(share * len(ordered), 9))  # 0.07 * 100 is 7.000000000000001
    return ordered[max(0, rank - 1)]


async def task_times(
    bootstrap: str,
    topics: list[str],
    wanted: dict[str, str],
    limit: float,
    when_read: bool = False,
) -> dict[str, float]:
    """Per incident, the latest CreateTime (s) of its tasks' records on `topics` (or the time
    they were read, for a producer that copies its input's timestamps), once every task id of
    `wanted` (task id → incident id) has been seen."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    remaining = set(wanted)
    latest: dict[str, float] = {}
    deadline = time.monotonic() + limit
    try:
        while remaining and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    task_id = (record.key or b"").decode()
                    incident_id = wanted.get(task_id)
                    if incident_id is None:
                        continue
                    remaining.discard(task_id)
                    stamp = time.time() if when_read else record.timestamp / 1000
                    latest[incident_id] = max(latest.get(incident_id, 0.0), stamp)
        if remaining:
            raise TimeoutError(f"{len(remaining)} tasks never arrived")
        return latest
    finally:
        await consumer.stop()


async def handoff_times(
    bootstrap: str, topic: str, incident_ids: set[str], limit: float
) -> dict[str, float]:
    """Per incident of `incident_ids`, the CreateTime (s) of intake's hand-off to planning: its
    record on the group-work topic `topic`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    handed: dict[str, float] = {}
    deadline = time.monotonic() + limit
    try:
        while len(handed) < len(incident_ids) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    work = json.loads(record.value or b"{}")
                    incident_id = (work.get("incident") or {}).get("incident_id")
                    if incident_id in incident_ids:
                        handed[incident_id] = record.timestamp / 1000
        return handed
    finally:
        await consumer.stop()


def hops(
    sent: dict[str, float], handed: dict[str, float], done: dict[str, float]
) -> dict[str, Any]:
    """Where an incident's latency went: from its publication to intake's hand-off to planning,
    and from there to its last task; p50 of each, and both for the slowest incident."""
    both = [i for i in sent if i in handed and i in done]
    if not both:
        return {}
    slowest = max(both, key=lambda i: done[i] - sent[i])
    return {
        "to_planning_p50_ms": round(1000 * statistics.median(handed[i] - sent[i] for i in both), 1),
        "planning_p50_ms": round(1000 * statistics.median(done[i] - handed[i] for i in both), 1),
        "slowest_to_planning_ms": round(1000 * (handed[slowest] - sent[slowest]), 1),
        "slowest_planning_ms": round(1000 * (done[slowest] - handed[slowest]), 1),
    }


async def publish_at_rate(
    bootstrap: str, topic: str, incidents: list[IncidentReported], rate: float
) -> dict[str, float]:
    """Publish one incident every 1/rate s, reported at the moment it is published (as a
    police system reports it); returns each incident's CreateTime (s). A report that new
    makes intake confirm that it knows every playbook published before it, as it must in
    production (`PolicyFeed.current_at`)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent: dict[str, float] = {}
    acks = []
    started = time.perf_counter()
    try:
        for n, incident in enumerate(incidents):
            pause = started + n / rate - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            stamp_ms = int(time.time() * 1000)
            sent[incident.incident_id] = stamp_ms / 1000
            reported = incident.model_copy(
                update={"reported_at": datetime.fromtimestamp(stamp_ms / 1000, UTC)}
            )
            acks.append(
                await producer.send(
                    topic,
                    key=incident.incident_id.encode(),
                    value=encode(reported),
                    timestamp_ms=stamp_ms,
                )
            )
        await asyncio.gather(*acks)
        return sent
    finally:
        await producer.stop()


async def raw_latency_loop(
    bootstrap: str, source: str, groups: Groups, count: int, stop: asyncio.Event
) -> None:
    """The latency floor: consume one incident, plan it, produce its tasks, await the acks."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    consumer.assign([TopicPartition(source, p) for p in range(4)])  # no group: no join delay
    await producer.start()
    seen = 0
    try:
        while seen < count and not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=1)
            for records in batches.values():
                for record in records:
                    incident = decode(IncidentReported, record.value)
                    acks = []
                    policy = policy_for(incident)
                    for task in plan(incident, groups, {}, policy).tasks:
                        view = project_task(task, incident, groups[task.group_id], policy)
                        acks.append(
                            await producer.send(
                                f"floor.tasks.{task.recipient}",
                                key=str(task.task_id).encode(),
                                value=encode(view),
                            )
                        )
                    await asyncio.gather(*acks)
                    seen += 1
    finally:
        await consumer.stop()
        await producer.stop()


REPO = Path(__file__).resolve().parents[1]
PEER_PYTHON = REPO / ".venv-quix" / "bin" / "python"


async def peer_catchup(
    bootstrap: str, groups: Groups, queued: list[IncidentReported], scratch: Path
) -> dict[str, Any]:
    """The same catch-up by a Quix Streams application (its own virtualenv, `.venv-quix`)."""
    if not PEER_PYTHON.exists():
        return {"not_run": "no .venv-quix (make bench creates it)"}
    source, sink = f"peer-incidents-{os.getpid()}", f"peer-tasks-{os.getpid()}"
    await create_topics(bootstrap, source, sink)
    await publish_all(bootstrap, source, [(i.incident_id, encode(i)) for i in queued])
    profiles = scratch / "peer-groups.jsonl"
    profiles.write_bytes(b"\n".join(encode(g) for g in groups.values()))
    started = time.time()
    peer = await asyncio.create_subprocess_exec(
        str(PEER_PYTHON),
        "-m",
        "benchmarks.peer_quix",
        "--bootstrap",
        bootstrap,
        "--source",
        source,
        "--sink",
        sink,
        "--groups",
        str(profiles),
        "--state-dir",
        str(scratch / "peer-state"),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(scratch / "peer.log").open("wb"),
    )
    try:
        wanted = expected_tasks(queued, groups)
        # Quix Streams gives each output its input's timestamp: the time read counts here
        done = await task_times(bootstrap, [sink], wanted, 1800, when_read=True)
        seconds = max(done.values()) - started
    finally:
        peer.terminate()
        await peer.wait()
    return {"seconds": round(seconds, 1), "tasks_per_s": round(len(wanted) / seconds, 1)}


def latencies(sent: dict[str, float], done: dict[str, float]) -> dict[str, float]:
    """p50, p99 and max; `slowest` is the slowest incident's place in publishing order (0:
    the first, which also meets a consumer idle since the phase before)."""
    in_order = sorted(sent, key=lambda incident: sent[incident])
    values = [done[i] - sent[i] for i in in_order]
    return {
        "p50_ms": round(1000 * statistics.median(values), 1),
        "p99_ms": round(1000 * percentile(values, 0.99), 1),
        "max_ms": round(1000 * max(values), 1),
        "slowest": values.index(max(values)),
        "p99_ms_after_the_first": round(1000 * percentile(values[1:], 0.99), 1),
    }


def expected_tasks(incidents: list[IncidentReported], groups: Groups) -> dict[str, str]:
    return {
        str(task.task_id): incident.incident_id
        for incident in incidents
        for task in plan(incident, groups, {}, policy_for(incident)).tasks
    }


async def steady_rate(
    bootstrap: str,
    prefix: str,
    groups: Groups,
    rate: float,
    seconds: float,
    label: str,
    now: datetime,
    worker_pid: int,
) -> dict[str, Any]:
    """Incidents at `rate` per second for `seconds`, to the worker and to the floor. Every
    incident of the run happens at `now`: each is its group's first violence, so that its
    tasks are the ones planned here without the group's history. The worker's CPU is read
    from the first publication to its last task: per incident, and as a share of one core."""
    names = list(groups)
    count = int(rate * seconds)

    def batch(tag: str) -> list[IncidentReported]:
        return [
            _incident(n, names[n % len(names)], now).model_copy(
                update={"incident_id": f"LAT-{label}-{tag}-{n:05d}"}
            )
            for n in range(count)
        ]

    recipients = [f"{prefix}tasks.{r}" for r in POLICY.recipient_ids]
    worker_incidents = batch("W")
    worker_tasks = expected_tasks(worker_incidents, groups)
    split_before, wall_before = cpu_times(worker_pid), time.time()
    sent = await publish_at_rate(bootstrap, f"{prefix}incidents", worker_incidents, rate)
    done = await task_times(bootstrap, recipients, worker_tasks, 300)
    worker_broker_pauses = broker_pauses(wall_before, max(done.values()))
    split, wall = cpu_times(worker_pid) - split_before, time.time() - wall_before
    cpu = split.total
    group_work = build_catalogue(prefix, 1, POLICY.recipient_ids).group_work.name
    handed = await handoff_times(bootstrap, group_work, set(sent), 60)

    floor_source = f"floor-latency-{label}-{os.getpid()}"
    floor_incidents = batch("F")
    await create_topics(bootstrap, floor_source)
    stop = asyncio.Event()
    loop = asyncio.create_task(raw_latency_loop(bootstrap, floor_source, groups, count, stop))
    await asyncio.sleep(2)  # the floor's consumer joins before the clock starts
    floor_began = time.time()
    with CollectorPauses() as floor_collections:  # the floor's loop runs in this process
        floor_sent = await publish_at_rate(bootstrap, floor_source, floor_incidents, rate)
        floor_done = await task_times(
            bootstrap,
            [f"floor.tasks.{r}" for r in POLICY.recipient_ids],
            expected_tasks(floor_incidents, groups),
            300,
        )
    stop.set()
    await loop
    return {
        "rate_per_s": rate,
        "incidents": count,
        "tasks": len(worker_tasks),
        "worker": latencies(sent, done),
        "worker_hops": hops(sent, handed, done),
        "worker_cpu_ms_per_incident": round(1000 * cpu / count, 2),
        "worker_cpu_share_of_a_core": round(cpu / wall, 2),
        "worker_cpu_split_ms_per_incident": split.ms_per(count),
        "floor": latencies(floor_sent, floor_done),
        "floor_gc_pauses": floor_collections.summary(),
        "broker_gc_pauses": {
            "worker": worker_broker_pauses,
            "floor": broker_pauses(floor_began, max(floor_done.values())),
        },
    }


async def settled_after(
    bootstrap: str, topics: list[str], partitions: int, quiet: float = 2.0, limit: float = 300
) -> tuple[float, dict[str, float]]:
    """When `topics` (the worker's internal topics, completion and changelogs) stopped changing:
    once their end offsets stayed unchanged for `quiet` seconds, the time (s since the epoch) of
    the watch's start and of each topic's last change (the watch's start for one that did not
    change during it)."""
    listed = await listed_partitions(bootstrap, topics, partitions)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        last, watched_at = await ends_of(consumer, topics, listed), time.time()
        changed_at = dict.fromkeys(topics, watched_at)
        deadline = time.monotonic() + limit
        while time.time() - max(changed_at.values()) < quiet and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now, seen_at = await ends_of(consumer, topics, listed), time.time()
            for topic in topics:
                if now[topic] != last[topic]:
                    changed_at[topic] = seen_at
            last = now
        return watched_at, changed_at
    finally:
        await consumer.stop()


def last_writers(
    watched_at: float, changed_at: dict[str, float], last_task: float, prefix: str
) -> dict[str, float]:
    """Seconds after the last task at which each topic that still changed during the watch
    stopped changing, the last first (topic names without `prefix`)."""
    still = {t: at for t, at in changed_at.items() if at > watched_at}
    ordered = sorted(still.items(), key=lambda item: -item[1])
    return {t.removeprefix(prefix): round(at - last_task, 2) for t, at in ordered}


async def scrape_metrics(port: int, every: float, stop: asyncio.Event) -> int:
    """Read the worker's `/metrics` every `every` seconds until `stop`, as a Prometheus server
    would; returns the number of scrapes."""
    scrapes = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        while not stop.is_set():
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            response.raise_for_status()
            scrapes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    return scrapes


async def gc_pauses(port: int) -> dict[str, float]:
    """The worker's garbage collections so far, from its `/metrics` (`pauses_in`)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return pauses_in(response.text)


def pauses_in(exposition: str) -> dict[str, float]:
    """The garbage collections counted in a `/metrics` text (`gvi_gc_pause_seconds`): how
    many, how many full ones, how many took 25 ms or more, and their seconds in all."""
    totals = {"collections": 0.0, "full": 0.0, "over_25_ms": 0.0, "seconds": 0.0}
    for family in text_string_to_metric_families(exposition):
        if family.name != "gvi_gc_pause_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                totals["collections"] += sample.value
                totals["over_25_ms"] += sample.value
                if sample.labels["generation"] == "2":
                    totals["full"] += sample.value
            elif sample.name.endswith("_sum"):
                totals["seconds"] += sample.value
            elif sample.name.endswith("_bucket") and float(sample.labels["le"]) == 0.025:
                totals["over_25_ms"] -= sample.value
    return totals


def pauses_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 3) for name in after}


async def scale_out(
    settings: Settings, scratch: Path, groups: Groups, count: int, workers: int, name: str = "scale"
) -> dict[str, Any]:
    """The catch-up of `count` queued incidents by `workers` worker processes started together,
    on topics and an app of its own (empty tables); returns its seconds from starting the
    processes to the last task, tasks/s and CPU per incident."""
    tag = f"{name}{workers}-{os.getpid()}"
    own = settings.model_copy(
        update={"topic_prefix": f"{tag}.", "app_id": tag, "log_level": "warning"}
    )
    bootstrap, prefix = own.bootstrap_servers, own.topic_prefix
    catalogue = own.catalogue(POLICY.recipient_ids)
    changelogs = [f"{own.app_id}-{table}-changelog" for table in TABLES]
    await ensure_topics(bootstrap, catalogue, 1, changelogs)
    await publish_all(bootstrap, f"{prefix}groups", [(g, encode(p)) for g, p in groups.items()])
    names, now = list(groups), datetime.now(UTC)
    queued = [
        _incident(n, names[n % len(names)], now).model_copy(
            update={"incident_id": f"SCALE-{workers}-{n:05d}"}
        )
        for n in range(count)
    ]
    await publish_all(bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in queued])
    started, broker_before = time.time(), broker_cpu_seconds()
    processes = [
        start_worker_process(
            own.model_copy(update={"web_port": free_port(), "data_dir": scratch / f"{tag}-{n}"}),
            scratch / f"{tag}-{n}.log",
        )
        for n in range(workers)
    ]
    try:
        recipients = [f"{prefix}tasks.{r}" for r in POLICY.recipient_ids]
        wanted = expected_tasks(queued, groups)
        seconds = max((await task_times(bootstrap, recipients, wanted, 1800)).values()) - started
        split = sum((cpu_times(p.pid) for p in processes), CpuTimes())
        broker_after = broker_cpu_seconds()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "tasks_per_s": round(len(wanted) / seconds, 1),
        "cpu_ms_per_incident": round(1000 * split.total / count, 2),
        "cpu_split_ms_per_incident": split.ms_per(count),
        "broker_cpu_ms_per_incident": _per_incident(broker_before, broker_after, count),
    }


def _per_incident(before: float | None, after: float | None, count: int) -> float | None:
    """ms of CPU per incident between two readings (None without them: the embedded broker)."""
    if before is None or after is None:
        return None
    return round(1000 * (after - before) / count, 2)


def _ms(value: float | None) -> str:
    return "not read (embedded broker)" if value is None else f"{value} ms"


def _split(split: dict[str, float]) -> str:
    return " / ".join(f"{value:g}" for value in split.values())


def table(report: dict[str, Any]) -> str:
    """The report as the table of docs/benchmarks.md."""
    catch_up, per_incident = report["catch_up"], report["per_incident"]
    rows = [
        f"broker: {report['broker']}; the worker's event loop: {report['event_loop']}; "
        f"partitions per topic: {report['partitions_per_topic']} "
        f"(outputs: {report.get('partitions_per_output_topic', '?')})",
        "| measure | worker | raw floor | worker ÷ floor |",
        "|---|---|---|---|",
        f"| catch-up of {catch_up['incidents']:,} incidents ({catch_up['tasks']:,} tasks), "
        f"tasks/s | {catch_up['worker_tasks_per_s']:,} ({catch_up['worker_seconds']} s) | "
        f"{catch_up['floor_tasks_per_s']:,} ({catch_up['floor_seconds']} s) | "
        f"{catch_up['worker_to_floor']} |",
    ]
    peer = catch_up["peer_quix_streams"]
    if "tasks_per_s" in peer:
        rows.append(
            f"| the same catch-up by Quix Streams 3.28.1 (peer), tasks/s | "
            f"{peer['tasks_per_s']:,} ({peer['seconds']} s) | | |"
        )
    rows.append(
        f"| catch-up, records/s (every output and changelog record, until all state is written) | "
        f"{catch_up['worker_records_per_s']:,} | {catch_up['floor_records_per_s']:,} | "
        f"{catch_up['worker_records_per_s'] / catch_up['floor_records_per_s']:.2f} |"
    )
    rows.append(
        f"| catch-up, CPU per incident (start-up included, all state written) | "
        f"{catch_up['worker_cpu_ms_per_incident']} ms (at the last task: "
        f"{catch_up['worker_cpu_ms_per_incident_at_last_task']} ms) | | |"
    )
    rows.append(
        f"| the same, split: main thread user / kernel, other threads user / kernel (ms) | "
        f"{_split(catch_up['worker_cpu_split_ms_per_incident'])} | "
        f"{catch_up['floor_cpu_ms_per_incident']} ms (all threads) | "
        f"×{catch_up['worker_cpu_ms_per_incident'] / catch_up['floor_cpu_ms_per_incident']:.1f} |"
    )
    core = catch_up["core_in_process_cpu_ms_per_incident"]
    rows.append(
        f"| the same handlers in process ({IN_PROCESS_INCIDENTS:,} incidents; no broker, "
        f"faust or aiokafka), CPU per incident: the machine's reference | {core} ms | | "
        f"worker ×{catch_up['worker_cpu_ms_per_incident'] / core:.2f} |"
    )
    without = catch_up["without_faust"]
    if "tasks_per_s" in without:
        rows.append(
            f"| the same stages on aiokafka alone, without faust (a lower bound for a worker "
            f"without faust), tasks/s (CPU per incident; the broker's) | "
            f"{without['tasks_per_s']:,} ({without['cpu_ms_per_incident']} ms; "
            f"{_ms(without.get('broker_cpu_ms_per_incident'))}) | | "
            f"{without['tasks_per_s'] / catch_up['floor_tasks_per_s']:.3f} |"
        )
    on_librdkafka = catch_up.get("without_faust_librdkafka", {})
    if "tasks_per_s" in on_librdkafka:
        rows.append(
            f"| the same stages on librdkafka (confluent-kafka), without faust, tasks/s (CPU "
            f"per incident; of it the main thread; the broker's) | "
            f"{on_librdkafka['tasks_per_s']:,} ({on_librdkafka['cpu_ms_per_incident']} ms; "
            f"{on_librdkafka['main_thread_cpu_ms_per_incident']} ms; "
            f"{_ms(on_librdkafka.get('broker_cpu_ms_per_incident'))}) | | "
            f"{on_librdkafka['tasks_per_s'] / catch_up['floor_tasks_per_s']:.3f} |"
        )
    rows.append(
        f"| the broker's CPU per incident during the catch-up | "
        f"{_ms(catch_up['broker_cpu_ms_per_incident'])} | | |"
    )
    rows.append(
        f"| start-up (empty tables) to the last task of one queued incident | "
        f"{report['start_up_to_first_incidents_tasks_s']} s | | |"
    )
    rows.append(
        f"| all state written after the last task | "
        f"{catch_up['settle_seconds_after_last_task']} s | | |"
    )
    writers = catch_up.get("settle_last_change_by_topic_s") or {}
    if writers:
        last = ", ".join(f"{topic} {seconds} s" for topic, seconds in list(writers.items())[:4])
        rows.append(f"| the topics written last, s after the last task | {last} | | |")
    for phase in report["steady_rate"]:
        worker, floor = phase["worker"], phase["floor"]
        rows.append(
            f"| {phase['rate_per_s']:g} incidents/s, incident → all tasks, p50 / p99 / max ms | "
            f"{worker['p50_ms']} / {worker['p99_ms']} / {worker['max_ms']} | "
            f"{floor['p50_ms']} / {floor['p99_ms']} / {floor['max_ms']} | "
            f"p99 ×{worker['p99_ms'] / max(floor['p99_ms'], 0.1):.1f} |"
        )
        rows.append(
            f"| the same without the phase's first incident, p99 ms (slowest was no. "
            f"{worker['slowest']} / {floor['slowest']}) | {worker['p99_ms_after_the_first']} | "
            f"{floor['p99_ms_after_the_first']} | |"
        )
        rows.append(
            f"| the same, the worker's CPU per incident, ms (share of one core; split as above) | "
            f"{phase['worker_cpu_ms_per_incident']} ({phase['worker_cpu_share_of_a_core']:.0%}; "
            f"{_split(phase['worker_cpu_split_ms_per_incident'])}) | | |"
        )
        floor_gc = phase.get("floor_gc_pauses")
        if floor_gc:
            rows.append(
                f"| the same, the floor's process: garbage collections all / full / 25 ms or "
                f"more (longest ms) | | {floor_gc['collections']:g} / {floor_gc['full']:g} / "
                f"{floor_gc['over_25_ms']:g} ({floor_gc['longest_ms']:g}) | |"
            )
        broker = phase.get("broker_gc_pauses") or {}
        if broker.get("worker") is not None:
            rows.append(
                "| the same, the broker's collector: pauses / 25 ms or more / longest / all ms | "
                + " | ".join(
                    f"{p['pauses']:g} / {p['over_25_ms']:g} / {p['longest_ms']:g} / "
                    f"{p['total_ms']:g}"
                    for p in (broker["worker"], broker["floor"])
                )
                + " | |"
            )
        hop = phase.get("worker_hops") or {}
        if hop:
            rows.append(
                f"| the same, incident → planning's input / → all tasks, p50 ms (the slowest) | "
                f"{hop['to_planning_p50_ms']} / {hop['planning_p50_ms']} "
                f"({hop['slowest_to_planning_ms']} / {hop['slowest_planning_ms']}) | | |"
            )
    for phase, pauses in report["gc_pauses"].items():
        rows.append(
            f"| garbage collections during the {phase.replace('_', ' ')}: all / full / 25 ms "
            f"or more (seconds) | {pauses['collections']:g} / {pauses['full']:g} / "
            f"{pauses['over_25_ms']:g} ({pauses['seconds']:.2f} s) | | |"
        )
    for scaled in report["scale_out"]:
        rows.append(
            f"| catch-up by {scaled['workers']} worker process(es), tasks/s (CPU per incident) | "
            f"{scaled['tasks_per_s']:,} ({scaled['seconds']} s; "
            f"{scaled['cpu_ms_per_incident']} ms, split "
            f"{_split(scaled['cpu_split_ms_per_incident'])}; "
            f"broker {_ms(scaled['broker_cpu_ms_per_incident'])}) | | |"
        )
    rows.append(
        f"| messages / changelog writes per incident | {per_incident['messages']} / "
        f"{per_incident['changelog_writes']} | | |"
    )
    rows.append(
        f"| peak RSS with {report['open_tasks_at_peak']:,} open tasks, state written | "
        f"{report['worker_peak_rss_mib']} MiB (at the last task: "
        f"{report['worker_peak_rss_at_last_task_mib']} MiB) | | |"
    )
    return "\n".join(rows)


async def run(settings: Settings, scratch: Path, arguments: argparse.Namespace) -> dict[str, Any]:
    bootstrap, prefix = settings.bootstrap_servers, settings.topic_prefix
    now = datetime.now(UTC)
    groups = {g.group_id: g for g in (_group(n, now) for n in range(20))}
    names = list(groups)
    catalogue = settings.catalogue(POLICY.recipient_ids)
    changelogs = [f"{settings.app_id}-{table}-changelog" for table in TABLES]
    await ensure_topics(bootstrap, catalogue, 1, changelogs)
    await publish_all(bootstrap, f"{prefix}groups", [(g, encode(p)) for g, p in groups.items()])

    queued = [_incident(n, names[n % len(names)], now) for n in range(arguments.incidents)]
    await publish_all(bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in queued])
    floor_source = f"floor-incidents-{os.getpid()}"
    # The floor's recipient topics have the partitions of the worker's (GVI_OUTPUT_PARTITIONS).
    floor_topics = settings.model_copy(update={"topic_prefix": "floor."})
    await ensure_topics(bootstrap, floor_topics.catalogue(POLICY.recipient_ids), 1)
    await create_topics(bootstrap, floor_source)  # Apache Kafka here creates no topic on use
    await publish_all(bootstrap, floor_source, [(i.incident_id, encode(i)) for i in queued])
    core_in_process = await measured_apart(IN_PROCESS_INCIDENTS)
    floor_cpu_before = time.process_time()
    floor_seconds, floor_tasks = await raw_floor(bootstrap, floor_source, groups, len(queued))
    floor_cpu = time.process_time() - floor_cpu_before
    without_faust = (
        await without_faust_catch_up(bootstrap, groups, queued, arguments.profile_without_faust)
        if arguments.without_faust
        else {"skipped": "--no-without-faust"}
    )
    without_faust_librdkafka = (
        await without_faust_catch_up(bootstrap, groups, queued, None, "librdkafka")
        if arguments.without_faust_on_librdkafka
        else {"skipped": "without --without-faust-on-librdkafka"}
    )
    peer = (
        await peer_catchup(bootstrap, groups, queued, scratch)
        if arguments.peer
        else {"skipped": "--no-peer"}
    )

    own = settings.model_copy(
        update={"web_port": free_port(), "data_dir": scratch / "data", "log_level": "warning"}
    )
    started, broker_before = time.time(), broker_cpu_seconds()
    worker = start_worker_process(own, scratch / "worker.log")
    sampler = Sampler(worker.pid, arguments.profile_worker) if arguments.profile_worker else None
    try:
        recipients = [f"{prefix}tasks.{r}" for r in POLICY.recipient_ids]
        wanted = expected_tasks(queued, groups)
        last_task = max((await task_times(bootstrap, recipients, wanted, 1800)).values())
        catchup_seconds = last_task - started
        cpu_seconds = cpu_times(worker.pid).total
        profile = sampler.stop() if sampler is not None else None
        catch_up_pauses = await gc_pauses(own.web_port)
        state_topics = [
            catalogue.task_commands.name,
            catalogue.task_events.name,
            catalogue.completion.name,
            *changelogs,
        ]
        watched_at, changed_at = await settled_after(bootstrap, state_topics, settings.partitions)
        settle_seconds = max(changed_at.values()) - last_task
        # Work left after the last task (the task agent, completion) belongs to the catch-up:
        # read after the watch's two quiet seconds (an idle worker takes about 3 % of a core).
        split_settled = cpu_times(worker.pid)
        cpu_seconds_settled = split_settled.total
        broker_after = broker_cpu_seconds()
        writers = last_writers(watched_at, changed_at, last_task, prefix)
        counted = await end_offsets(
            bootstrap, [s.name for s in catalogue.all()] + changelogs, settings.partitions
        )
        outside = {
            f"{prefix}incidents",
            f"{prefix}groups",
            *(spec.name for spec in catalogue.task_updates.values()),
        }
        messages = sum(v for k, v in counted.items() if k not in outside and k not in changelogs)
        writes = sum(counted[name] for name in changelogs)
        before_steady = await gc_pauses(own.web_port)
        stop_scraping = asyncio.Event()
        scraper = asyncio.create_task(scrape_metrics(own.web_port, 5.0, stop_scraping))
        steady_sampler = (
            Sampler(worker.pid, arguments.profile_steady) if arguments.profile_steady else None
        )
        steady = [
            await steady_rate(
                bootstrap, prefix, groups, rate, arguments.seconds, f"R{int(rate)}", now, worker.pid
            )
            for rate in (arguments.rates if arguments.seconds > 0 else ())
        ]
        steady_profile = steady_sampler.stop() if steady_sampler is not None else None
        stop_scraping.set()
        scrapes = await scraper
        steady_pauses = pauses_between(before_steady, await gc_pauses(own.web_port))
        tasks_so_far = len(wanted) + sum(int(phase["tasks"]) for phase in steady)
        if tasks_so_far < arguments.open_tasks:
            per_incident = len(wanted) / len(queued)
            more = [
                _incident(n, names[n % len(names)], now).model_copy(
                    update={"incident_id": f"TOPUP-{n:06d}"}
                )
                for n in range(int((arguments.open_tasks - tasks_so_far) / per_incident) + 1)
            ]
            await publish_all(
                bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in more]
            )
            topped = expected_tasks(more, groups)
            await task_times(bootstrap, recipients, topped, 1800)
            tasks_so_far += len(topped)
        # The task agent and completion are still writing state when the last task is out, and
        # the tables grow with it: the peak is read once every state topic is quiet.
        rss_at_last_task = _peak_rss_kib(worker.pid)
        await settled_after(bootstrap, state_topics, settings.partitions)
        rss = _peak_rss_kib(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    first = await scale_out(settings, scratch, groups, 1, 1, name="startup")
    scaling = (
        [
            await scale_out(settings, scratch, groups, arguments.scale_incidents, workers)
            for workers in (1, 2)
        ]
        if arguments.scale_incidents
        else []
    )
    return {
        "broker": os.environ.get("GVI_TEST_BROKER", "tansu"),
        "event_loop": settings.event_loop.value,
        "partitions_per_topic": settings.partitions,
        "partitions_per_output_topic": settings.output_partitions,
        "catch_up": {
            "incidents": len(queued),
            "tasks": len(wanted),
            "worker_seconds": round(catchup_seconds, 1),
            "worker_tasks_per_s": round(len(wanted) / catchup_seconds, 1),
            "floor_seconds": round(floor_seconds, 1),
            "floor_tasks_per_s": round(floor_tasks / floor_seconds, 1),
            "worker_to_floor": round(floor_seconds / catchup_seconds, 3),
            "worker_cpu_ms_per_incident_at_last_task": round(1000 * cpu_seconds / len(queued), 2),
            "worker_cpu_ms_per_incident": round(1000 * cpu_seconds_settled / len(queued), 2),
            "worker_cpu_split_ms_per_incident": split_settled.ms_per(len(queued)),
            "floor_cpu_ms_per_incident": round(1000 * floor_cpu / len(queued), 2),
            "core_in_process_cpu_ms_per_incident": core_in_process,
            "without_faust": without_faust,
            "without_faust_librdkafka": without_faust_librdkafka,
            "broker_cpu_ms_per_incident": _per_incident(broker_before, broker_after, len(queued)),
            "worker_records_per_s": round(
                (messages + writes) / (catchup_seconds + settle_seconds), 1
            ),
            "floor_records_per_s": round(floor_tasks / floor_seconds, 1),
            "peer_quix_streams": peer,
            "settle_seconds_after_last_task": round(settle_seconds, 2),
            "settle_last_change_by_topic_s": writers,
        },
        "steady_rate": steady,
        "metrics_scrapes_during_steady_rate": scrapes,
        "gc_pauses": {"catch_up": catch_up_pauses, "steady_rate": steady_pauses},
        "open_tasks_during_steady_rate": len(wanted),
        "deadline_timer_every_s": own.overdue_check_seconds,
        "start_up_to_first_incidents_tasks_s": first["seconds"],
        "scale_out": scaling,
        "per_incident": {
            "messages": round((messages + len(queued)) / len(queued), 1),
            "changelog_writes": round(writes / len(queued), 1),
        },
        "worker_profile_of_the_catch_up": profile.lines() if profile is not None else None,
        "worker_profile_of_the_steady_rates": (
            steady_profile.lines() if steady_profile is not None else None
        ),
        "worker_peak_rss_mib": round(rss / 1024, 1),
        "worker_peak_rss_at_last_task_mib": round(rss_at_last_task / 1024, 1),
        "open_tasks_at_peak": tasks_so_far,
    }


def steady_rates(text: str) -> tuple[float, ...]:
    """The `--rates` list: positive incidents/s, each a whole number (it names the phase's
    topics), no rate twice."""
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(rate <= 0 or not rate.is_integer() for rate in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive whole numbers: {text!r}")
    if len(set(rates)) != len(rates):
        raise argparse.ArgumentTypeError(f"a rate given twice: {text!r}")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=5000, help="queued for the catch-up")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="per steady rate (0: no latency phases)"
    )
    parser.add_argument(
        "--rates",
        type=steady_rates,
        default=(10.0, 100.0),
        help="the steady rates, incidents/s, comma-separated, in the order run (default 10,100)",
    )
    parser.add_argument(
        "--no-peer", dest="peer", action="store_false", help="skip the Quix Streams peer"
    )
    parser.add_argument(
        "--no-without-faust",
        dest="without_faust",
        action="store_false",
        help="skip the worker's stages on aiokafka alone (benchmarks/without_faust.py)",
    )
    parser.add_argument(
        "--without-faust-on-librdkafka",
        action="store_true",
        help="also the same stages on librdkafka (confluent-kafka) instead of aiokafka",
    )
    parser.add_argument(
        "--profile-without-faust",
        help="a cProfile of the stages on aiokafka alone, to this file",
    )
    parser.add_argument(
        "--open-tasks", type=int, default=100_000, help="open tasks when peak RSS is read"
    )
    parser.add_argument(
        "--scale-incidents",
        type=int,
        default=2000,
        help="queued for the catch-up by one worker and by two (0: skip that figure)",
    )
    parser.add_argument(
        "--profile-worker",
        type=Path,
        help="sample the worker with py-spy during the catch-up; its stacks go to this file",
    )
    parser.add_argument(
        "--profile-steady",
        type=Path,
        help="sample the worker with py-spy during the steady rates; its stacks go to this file",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_broker(Path(scratch)) as url:
        settings = Settings(broker_url=url, topic_prefix="bench.", app_id=f"bench-{os.getpid()}")
        report = asyncio.run(run(settings, Path(scratch), arguments))
    print(json.dumps(report, indent=2))
    print(table(report))
    for profile in ("worker_profile_of_the_catch_up", "worker_profile_of_the_steady_rates"):
        if report[profile]:
            print("\n".join(report[profile]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

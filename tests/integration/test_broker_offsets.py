"""The broker's answers to "where does this partition end" and "where does it start".

Where it ends is what faust's table recovery reads up to: Tansu 0.6.0 answers one past the
first record of the last batch, so the worker produces one record per batch there (found by the
kill loop: a task kept in such a batch was never recovered). Where it starts, Tansu 0.6.0
answers with the record it stored first in time, which is record 1 when two producers' first
records landed out of order: readers start at offset 0 instead (`events.offsets`; the likeliest
cause of the crash tests' reader missing a task view on Tansu, docs/streams.md)."""

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.structs import TopicPartition

from benchmarks.throughput import create_topics
from events.admin import broker_is_tansu
from tests.support.deployment import Deployment
from workers.stream.app import create_app
from workers.tools.kafka_clients import read_topic, read_topics

pytestmark = pytest.mark.broker

ON_TANSU = os.environ.get("GVI_TEST_BROKER", "tansu") == "tansu"


async def _end_after_one_batch(bootstrap: str, topic: str, max_batch_size: int) -> int:
    """Produce three records at once (one batch unless `max_batch_size` splits them); the
    partition's end as the broker lists it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=max_batch_size
    )
    await producer.start()
    try:
        sends = [await producer.send(topic, f"record {n}".encode(), key=b"k") for n in range(3)]
        assert [sent.offset for sent in await asyncio.gather(*sends)] == [0, 1, 2]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([partition]))[partition])
    finally:
        await consumer.stop()


def test_the_listed_end_of_a_partition_after_one_batch_of_three(deployment: Deployment) -> None:
    batched = asyncio.run(_end_after_one_batch(deployment.bootstrap, deployment.topic("b3"), 16384))
    single = asyncio.run(_end_after_one_batch(deployment.bootstrap, deployment.topic("b1"), 1))
    assert single == 3, "one record per batch: every broker lists the true end"
    if ON_TANSU:
        # Canary: when Tansu lists 3 here, its defect is fixed and the workaround can go.
        assert batched == 1, f"Tansu now lists the end after a batch of three as {batched}"
    else:
        assert batched == 3


def test_the_worker_produces_one_record_per_batch_and_holds_at_gaps_exactly_on_tansu(
    deployment: Deployment,
) -> None:
    assert asyncio.run(broker_is_tansu(deployment.bootstrap)) is ON_TANSU
    settings = deployment.settings.model_copy(update={"single_record_batches": True})
    app, _runtime = create_app(settings)
    assert app.conf.producer_max_batch_size == 1
    worker = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready")
    said = "every record is produced in a batch of its own" in worker.log()
    assert said is ON_TANSU
    holds = "a gap in a partition's offsets is waited for" in worker.log()
    assert holds is ON_TANSU


async def _listed_starts(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, number) for topic in topics for number in range(4)]
        return {
            tp: int(offset) for tp, offset in (await consumer.beginning_offsets(partitions)).items()
        }
    finally:
        await consumer.stop()


def _first_records_at_once(deployment: Deployment, topics: list[str]) -> None:
    """Two producer processes write one record to every partition of `topics` at one moment."""
    asyncio.run(create_topics(deployment.bootstrap, *topics))
    at = time.time() + 1.5
    producers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.first_records",
                deployment.bootstrap,
                name,
                str(at),
                *topics,
            ]
        )
        for name in ("A", "B")
    ]
    assert [producer.wait(timeout=60) for producer in producers] == [0, 0]


def test_readers_from_the_start_read_record_zero_of_partitions_two_producers_began_at_once(
    deployment: Deployment,
) -> None:
    topics = [deployment.topic(f"first-{round_}-{n}") for round_ in range(10) for n in range(10)]
    for round_ in range(10):
        _first_records_at_once(deployment, topics[round_ * 10 : (round_ + 1) * 10])
    listed = asyncio.run(_listed_starts(deployment.bootstrap, topics))
    found = asyncio.run(read_topics(deployment.bootstrap, topics, max_wait=60))
    wanted = {
        f"{name}/{topic}/{partition}" for topic in topics for partition in range(4) for name in "AB"
    }
    read = {
        record.value.decode() for records in found.values() for record in records if record.value
    }
    later_starts = sorted(f"{tp.topic}/{tp.partition}" for tp, start in listed.items() if start)
    assert read == wanted, (
        f"{len(wanted - read)} first records never read; the broker listed {len(later_starts)} "
        f"of {len(listed)} partitions as starting after offset 0: {later_starts[:5]}"
    )
    if not ON_TANSU:
        assert not later_starts, "Apache Kafka lists every partition here as starting at 0"


async def _delete_head(bootstrap: str, partition: TopicPartition, before: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records({partition: RecordsToDelete(before_offset=before)})
    finally:
        await admin.close()


def test_a_reader_from_the_start_begins_at_the_log_start(deployment: Deployment) -> None:
    """Offset 0 is where a reader starts: the first record on both brokers; on Apache Kafka,
    once the head is deleted (retention), the consumer's reset moves it to the log start."""
    topic = deployment.topic("head")
    asyncio.run(create_topics(deployment.bootstrap, topic))
    placed = deployment.publish("head", [("k", f"record {n}".encode()) for n in range(5)])
    assert [offset for _, offset in placed] == [0, 1, 2, 3, 4]
    read = asyncio.run(read_topic(deployment.bootstrap, topic))
    assert [record.offset for record in read] == [0, 1, 2, 3, 4]
    if ON_TANSU:
        return  # Tansu 0.6.0 has no DeleteRecords (its handler is a `todo!()`)
    asyncio.run(_delete_head(deployment.bootstrap, TopicPartition(topic, placed[0][0]), 3))
    read = asyncio.run(read_topic(deployment.bootstrap, topic))
    assert [record.offset for record in read] == [3, 4], "read from the log start"


async def _committed(bootstrap: str, group: str, partition: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[partition])
    finally:
        await admin.close()
    found = offsets.get(partition)
    return found.offset if found is not None and found.offset >= 0 else None


def test_a_worker_commits_a_partition_read_from_its_log_start(deployment: Deployment) -> None:
    """A partition the worker's group never committed is read from offset 0; its messages are
    answered and committed from where the log starts (on Apache Kafka after DeleteRecords:
    a count from 0 would never commit there)."""
    incidents = deployment.topic("incidents")
    asyncio.run(create_topics(deployment.bootstrap, incidents))
    placed = deployment.publish("incidents", [("INC-HEAD", b"not an incident")] * 5)
    partition = TopicPartition(incidents, placed[0][0])
    start = 0 if ON_TANSU else 3  # Tansu 0.6.0 has no DeleteRecords
    if not ON_TANSU:
        asyncio.run(_delete_head(deployment.bootstrap, partition, start))
    deployment.start_worker()

    def all_answered(values: list[dict[str, Any]]) -> bool:
        answered = {v["source_offset"] for v in values if v["source_topic"] == incidents}
        return answered >= set(range(start, 5))

    answers = deployment.wait_for("rejected", all_answered, limit=120)
    answered = sorted(v["source_offset"] for v in answers if v["source_topic"] == incidents)
    assert answered == list(range(start, 5)), "one answer per message from the log start"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            asyncio.run(_committed(deployment.bootstrap, deployment.settings.app_id, partition))
            == 5
        ):
            return
        time.sleep(1)
    raise AssertionError("the worker never committed the partition past its last message")

"""Small aiokafka clients for the CLI, the demo and the tests: publish, read, wait for keys."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from events.admin import broker_is_tansu
from events.connection import KafkaConnection, connection_of
from events.offsets import seek_to_start
from workers.faust_fixes import late_writes
from workers.faust_fixes.internals import refresh_metadata
from workers.faust_fixes.topic_tracking_producer import TopicTrackingProducer

Kafka = KafkaConnection | str
"""A connection (servers and credentials), or plaintext `host:port[,host:port]`."""
_brokers_asked: set[str] = set()


@dataclass(frozen=True)
class Record:
    """One message as read back."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    timestamp_ms: int | None = None


async def publish(
    kafka: Kafka, topic: str, messages: Iterable[tuple[str | None, bytes | None]]
) -> list[tuple[int, int]]:
    """Send (key, value) pairs, waiting for each acknowledgement; returns (partition, offset)s."""
    producer = TopicTrackingProducer(**connection_of(kafka).aiokafka(), acks="all")
    await producer.start()
    try:
        placed = []
        for key, value in messages:
            metadata = await producer.send_and_wait(
                topic, key=key.encode("utf-8") if key is not None else None, value=value
            )
            placed.append((metadata.partition, metadata.offset))
        return placed
    finally:
        await producer.stop()


async def hold_at_gaps_on_tansu(kafka: Kafka) -> bool:
    """Make this process's consumers hold at gaps in a partition's offsets when `kafka` is
    Tansu, which can store a record after the ones behind it (`late_writes`); each broker is
    asked once. True when the process holds."""
    servers = connection_of(kafka).bootstrap_servers
    if not late_writes.holding() and servers not in _brokers_asked:
        if await broker_is_tansu(kafka):
            late_writes.install()
        _brokers_asked.add(servers)
    return late_writes.holding()


async def read_topic(
    kafka: Kafka, topic: str, idle_timeout: float = 1.0, max_wait: float = 30.0
) -> list[Record]:
    """Every message of `topic` from the beginning, until it is idle for `idle_timeout` seconds."""
    await hold_at_gaps_on_tansu(kafka)
    consumer = AIOKafkaConsumer(
        **connection_of(kafka).aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic, max_wait)
        if not partitions:
            return []
        consumer.assign(partitions)
        seek_to_start(consumer, partitions)
        end_offsets = await consumer.end_offsets(partitions)
        records: list[Record] = []
        deadline = time.monotonic() + max_wait
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=int(idle_timeout * 1000))
            for messages in batch.values():
                records.extend(_record(message) for message in messages)
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if not batch and all(positions[tp] >= end_offsets[tp] for tp in partitions):
                break
        return records
    finally:
        await consumer.stop()


async def read_topics(
    kafka: Kafka, topics: Sequence[str], max_wait: float = 600.0
) -> dict[str, list[Record]]:
    """Every message of several topics, from the beginning up to their ends when asked, with
    one consumer for all of them (a report reads thirty topics: one idle wait per topic
    would cost it half a minute)."""
    await hold_at_gaps_on_tansu(kafka)
    consumer = AIOKafkaConsumer(
        **connection_of(kafka).aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    found: dict[str, list[Record]] = {topic: [] for topic in topics}
    try:
        partitions = [
            partition
            for topic in topics
            for partition in await _partitions(consumer, topic, min(max_wait, 30.0))
        ]
        if not partitions:
            return found
        consumer.assign(partitions)
        seek_to_start(consumer, partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + max_wait
        while pending and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for partition, messages in batch.items():
                found[partition.topic].extend(_record(message) for message in messages)
            for partition in list(pending):
                if await consumer.position(partition) >= ends[partition]:
                    pending.discard(partition)
        return found
    finally:
        await consumer.stop()


async def wait_for_keys(
    kafka: Kafka, topic: str, keys: Iterable[str], limit_seconds: float = 60.0
) -> list[Record]:
    """Read `topic` until every key in `keys` has appeared; raises TimeoutError otherwise."""
    missing = set(keys)
    found: list[Record] = []
    async for record in follow(kafka, topic, limit_seconds=limit_seconds):
        found.append(record)
        missing.discard(record.key or "")
        if not missing:
            return found
    raise TimeoutError(f"{topic}: keys never seen after {limit_seconds} s: {sorted(missing)[:10]}")


async def follow(
    kafka: Kafka, topic: str, limit_seconds: float | None = None
) -> AsyncIterator[Record]:
    """Yield every message of `topic` from the beginning as it arrives, for `limit_seconds`."""
    async for record in follow_many(kafka, [topic], limit_seconds):
        yield record


async def follow_many(
    kafka: Kafka, topics: Sequence[str], limit_seconds: float | None = None
) -> AsyncIterator[Record]:
    """Yield every message of several topics from the beginning as it arrives."""
    await hold_at_gaps_on_tansu(kafka)
    consumer = AIOKafkaConsumer(
        **connection_of(kafka).aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        metadata_max_age_ms=1000,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        partitions = [
            partition
            for topic in topics
            for partition in await _partitions(consumer, topic, limit_seconds or 30.0)
        ]
        if not partitions:
            return
        consumer.assign(partitions)
        seek_to_start(consumer, partitions)
        deadline = None if limit_seconds is None else time.monotonic() + limit_seconds
        while deadline is None or time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    yield _record(message)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, wait: float) -> list[TopicPartition]:
    deadline = time.monotonic() + wait
    while True:
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, number) for number in sorted(numbers)]
        if time.monotonic() >= deadline:
            return []
        await refresh_metadata(consumer)
        await asyncio.sleep(0.2)


def _record(message: object) -> Record:
    key = getattr(message, "key", None)
    return Record(
        topic=getattr(message, "topic", ""),
        partition=getattr(message, "partition", -1),
        offset=getattr(message, "offset", -1),
        key=key.decode("utf-8", errors="replace") if key is not None else None,
        value=getattr(message, "value", None),
        timestamp_ms=getattr(message, "timestamp", None),
    )

"""librdkafka (confluent-kafka) behind the aiokafka calls the stages without faust make.

The producer takes the batch API `workers.stream.producing.BatchedSend` uses (one batch per
topic partition, one acknowledgement per batch): librdkafka builds its own record batches and
sends them from its own threads; the event loop serves its delivery reports every millisecond
(a thread of ours serving them was no cheaper: the reports then hand each batch's
acknowledgement across threads). The consumer answers `getmany` from librdkafka's prefetched
queue. Both only for `benchmarks/without_faust.py --client librdkafka`: what the way out costs
on a client whose protocol code is C, not Python.
"""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from aiokafka import TopicPartition

from workers.stream.app import PRODUCER_BATCH_BYTES

IDLE_POLL_SECONDS = 0.001
"""How long `getmany` sleeps when librdkafka's queue is empty before it looks again."""
CONSUMED_AT_ONCE = 1000
"""At most this many messages from librdkafka's queue per `getmany`."""
REPORTS_POLL_SECONDS = 0.001
"""How often the event loop serves librdkafka's delivery reports (0.2 ms measured no faster)."""
STOP_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Acknowledged:
    """A batch's acknowledgement, as aiokafka's RecordMetadata is read: its first offset."""

    topic: str
    partition: int
    offset: int


class ListedRecords:
    """A batch as `BatchedSend` fills it; librdkafka batches the records itself."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None, Any]] = []  # headers as given

    def append(
        self, timestamp: Any, key: bytes, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> "ListedRecords":
        self.records.append((key, value, headers))
        return self

    def record_count(self) -> int:
        return len(self.records)


class BatchAcks:
    """Counts a batch's delivery reports (served on the event loop) and resolves its future
    once all are in: with the batch's first offset, or with its first error."""

    def __init__(self, topic: str, partition: int, count: int) -> None:
        self.topic, self.partition = topic, partition
        self.outstanding, self.first = count, -1
        self.error: Any = None
        self.future: asyncio.Future[Acknowledged] = asyncio.get_running_loop().create_future()

    def delivered(self, error: Any, message: Any) -> None:
        if error is not None and self.error is None:
            self.error = error
        elif error is None:
            offset = message.offset()
            if self.first < 0 or offset < self.first:
                self.first = offset
        self.outstanding -= 1
        if self.outstanding == 0:
            self._resolve()

    def _resolve(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(confluent_kafka.KafkaException(self.error))
        else:
            self.future.set_result(Acknowledged(self.topic, self.partition, self.first))


class LibrdkafkaProducer:
    """aiokafka's producer as `BatchedSend` and the stages use it, on librdkafka."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": False,
                "linger.ms": 0,  # as aiokafka's: a flush waits for its acknowledgements
                "batch.size": PRODUCER_BATCH_BYTES,
            }
        )
        self.partitions: dict[str, list[int]] = {}
        self.unacknowledged: set[asyncio.Future[Acknowledged]] = set()
        self._reports: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reports = asyncio.create_task(self._serve_reports())

    async def stop(self) -> None:
        """Wait for the batches not yet acknowledged (their reports served on this loop)."""
        if self.unacknowledged:
            await asyncio.wait(self.unacknowledged, timeout=STOP_WAIT_SECONDS)
        if self._reports is not None:
            self._reports.cancel()

    async def _serve_reports(self) -> None:
        poll = self.producer.poll
        while True:
            poll(0)
            await asyncio.sleep(REPORTS_POLL_SECONDS)

    def create_batch(self) -> ListedRecords:
        return ListedRecords()

    async def partitions_for(self, topic: str) -> list[int]:
        known = self.partitions.get(topic)
        if known is None:
            metadata = await asyncio.to_thread(self.producer.list_topics, topic, 10)
            known = self.partitions[topic] = sorted(metadata.topics[topic].partitions)
        return known

    async def send_batch(
        self, batch: ListedRecords, topic: str, partition: int
    ) -> asyncio.Future[Acknowledged]:
        acks = BatchAcks(topic, partition, batch.record_count())
        produce, delivered = self.producer.produce, acks.delivered
        for key, value, headers in batch.records:
            produce(topic, value, key, partition, on_delivery=delivered, headers=headers or None)
        self.producer.poll(0)
        self.unacknowledged.add(acks.future)
        acks.future.add_done_callback(self.unacknowledged.discard)
        return acks.future


@dataclass(frozen=True)
class Consumed:
    """A consumed record with the attributes of aiokafka's ConsumerRecord the stages read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int
    """Milliseconds since the epoch, as aiokafka gives it."""

    @classmethod
    def of(cls, message: Any) -> "Consumed":
        """librdkafka's message (raises its error, if it is one)."""
        error = message.error()
        if error is not None:
            raise confluent_kafka.KafkaException(error)
        return cls(
            message.topic(),
            message.partition(),
            message.offset(),
            message.key(),
            message.value(),
            tuple(message.headers() or ()),
            message.timestamp()[1],
        )


class LibrdkafkaConsumer:
    """aiokafka's consumer as the stages use it (assign, getmany, commit), on librdkafka."""

    def __init__(self, bootstrap: str, group_id: str) -> None:
        self.consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.assigned: frozenset[TopicPartition] = frozenset()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await asyncio.to_thread(self.consumer.close)

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self.assigned = frozenset(partitions)
        self.consumer.assign(
            [confluent_kafka.TopicPartition(p.topic, p.partition) for p in self.assigned]
        )

    def assignment(self) -> frozenset[TopicPartition]:
        return self.assigned

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Consumed]]:
        give_up = time.monotonic() + timeout_ms / 1000
        while True:
            messages = self.consumer.consume(CONSUMED_AT_ONCE, 0)
            if messages or time.monotonic() >= give_up:
                break
            await asyncio.sleep(IDLE_POLL_SECONDS)
        fetched: dict[TopicPartition, list[Consumed]] = {}
        for message in messages:
            record = Consumed.of(message)
            fetched.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return fetched

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit `offsets` (the next offset of each partition) without waiting for it."""
        listed = [
            confluent_kafka.TopicPartition(p.topic, p.partition, n) for p, n in offsets.items()
        ]
        self.consumer.commit(offsets=listed, asynchronous=True)

"""Records produced through aiokafka's batch API: one record batch per topic partition of a
flush, one acknowledgement per batch (`make bench-producer` measured the difference)."""

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from events.partitioning import key_partitioner
from workers.stream.outbound import Outbound


@dataclass(frozen=True)
class PartitionBatch:
    """The records of one flush for one topic partition, handed to the producer as one batch."""

    topic: str
    partition: int
    records: int
    ack: Awaitable[Any]
    """Resolves to the batch's RecordMetadata: `offset` is the offset of its first record."""


@dataclass
class BatchedSend:
    """Hands records to an aiokafka producer grouped by topic partition, in their order within
    each partition (a partition's batches follow one another: aiokafka sends them in order)."""

    producer: Any
    topic: str = ""
    """The topic being handed over (names the topic whose metadata or send failed)."""
    batches: list[PartitionBatch] = field(default_factory=list)

    async def send(self, records: Sequence[Outbound]) -> list[PartitionBatch]:
        grouped: dict[tuple[str, int], list[tuple[bytes, Outbound]]] = {}
        partitions: dict[str, list[int]] = {}
        for record in records:
            self.topic, key, partition = record.topic, record.raw_key, record.partition
            if partition is None:
                known = partitions.get(record.topic)
                if known is None:
                    known = partitions[record.topic] = sorted(
                        await self.producer.partitions_for(record.topic)
                    )
                partition = key_partitioner(key, known, known)
            grouped.setdefault((record.topic, partition), []).append((key, record))
        for (topic, partition), listed in grouped.items():
            self.topic = topic
            batch, count = self.producer.create_batch(), 0
            for key, record in listed:
                if not self._append(batch, key, record):
                    await self._hand_over(batch, topic, partition, count)
                    batch, count = self.producer.create_batch(), 0
                    self._append(batch, key, record)  # a batch always takes its first record
                count += 1
            await self._hand_over(batch, topic, partition, count)
        return self.batches

    @staticmethod
    def _append(batch: Any, key: bytes, record: Outbound) -> bool:
        appended = batch.append(
            timestamp=None, key=key, value=record.value, headers=record.headers or []
        )
        return appended is not None

    async def _hand_over(self, batch: Any, topic: str, partition: int, count: int) -> None:
        ack = await self.producer.send_batch(batch, topic, partition=partition)
        self.batches.append(PartitionBatch(topic, partition, count, ack))

"""Reads the output topics into the read model, from the positions it was read up to."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.connection import KafkaConnection
from events.offsets import seek_to_start
from workers.gateway.metrics import GatewayMetrics
from workers.gateway.output_records import BadRecord, checked, skipped
from workers.gateway.read_model import ReadModel
from workers.gateway.read_store import Record

log = structlog.get_logger("gvi.gateway.feed")


class Feed:
    """One consumer, no consumer group: every replica reads every partition of the output
    topics itself and keeps its own positions (in the read model)."""

    def __init__(
        self,
        kafka: KafkaConnection,
        partitions: int,
        model: ReadModel,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.kafka = kafka
        self.partitions = partitions
        self.metrics = metrics or GatewayMetrics()
        self.model = model
        self.caught_up = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.kafka.aiokafka(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        self.consumer = consumer
        try:
            partitions = self._partitions()
            consumer.assign(partitions)
            known = await self.model.positions()
            fresh = []
            for partition in partitions:
                start = known.get((partition.topic, partition.partition))
                if start is None:
                    fresh.append(partition)
                else:
                    consumer.seek(partition, start)
            seek_to_start(consumer, fresh)
            targets = await consumer.end_offsets(partitions)
            await self._read(consumer, targets)
        finally:
            await consumer.stop()

    def _partitions(self) -> list[TopicPartition]:
        """Every partition of the output topics: the gateway checked at start that each topic
        has the deployment's partition count (aiokafka's metadata of all topics is empty on
        Apache Kafka, so it is not asked)."""
        return [
            TopicPartition(topic, number)
            for topic in self.model.topics.all()
            for number in range(self.partitions)
        ]

    async def _read(self, consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> None:
        """Fold every batch into the model; `caught_up` is set once every partition was read
        to the end it had at start."""
        while True:
            if not self.caught_up.is_set() and await self._reached(consumer, targets):
                self.caught_up.set()
                log.info("read model caught up with the topics")
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            records = [
                Record(
                    message.topic,
                    message.partition,
                    message.offset,
                    self._value(message),
                    message.timestamp,
                )
                for messages in batches.values()
                for message in messages
            ]
            if records:
                await self.model.apply(records, datetime.now(UTC))

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per output topic partition, the messages not yet folded into the model (from the
        high-water marks of the latest fetches)."""
        consumer = self.consumer
        if consumer is None:
            return {}
        behind: dict[tuple[str, int], int] = {}
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            if end is not None:
                position = await consumer.position(partition)
                behind[(partition.topic, partition.partition)] = max(end - position, 0)
        return behind

    def _value(self, message: Any) -> dict[str, Any] | None:
        """The record's value when it holds to its topic's contract; a bad one counts as a
        tombstone (skipped, its position still moves on) and is logged without its content."""
        topic = message.topic
        try:
            return checked(self.model.topics.role_of(topic), topic, message.value)
        except BadRecord as problem:
            skipped(topic, message.partition, message.offset, problem)
            self.metrics.bad_records.labels(topic).inc()
            return None

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
        for partition, end in targets.items():
            if await consumer.position(partition) < end:
                return False
        return True

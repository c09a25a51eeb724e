"""Where a reader starts a partition it holds no position in: offset 0, not the listed start."""

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition


def seek_to_start(consumer: Any, partitions: Iterable[TopicPartition]) -> None:
    """Seek each partition to offset 0 (the consumer must reset to "earliest").

    Not `seek_to_beginning`: it asks the broker for the start (ListOffsets, earliest), and
    Tansu 0.6.0 answers with the record it stored first *in time*. When two producers write a
    partition's first records at once, their writes can land out of order, and it answers 1:
    every reader that started there skipped record 0 for good (a task never on its
    recipient's topic as the tests read it, docs/streams.md). On Apache Kafka a partition whose
    log starts later answers the first fetch from 0 with OffsetOutOfRange, and the consumer's
    reset policy moves it to the log start, as `seek_to_beginning` would.
    """
    for partition in partitions:
        consumer.seek(partition, 0)


class StartUncommittedAtZero(ConsumerRebalanceListener):  # type: ignore[misc]
    """A group member's partitions that its group never committed start at offset 0 (aiokafka
    would reset them to the start the broker lists; see `seek_to_start`)."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        partitions = list(assigned)
        committed = await asyncio.gather(*(self.consumer.committed(tp) for tp in partitions))
        seek_to_start(
            self.consumer,
            [tp for tp, offset in zip(partitions, committed, strict=True) if offset is None],
        )

"""Readers start a partition they hold no position in at offset 0, not where the broker says."""

import asyncio

from aiokafka import TopicPartition

from events.offsets import StartUncommittedAtZero, seek_to_start


class Consumer:
    """The calls a reader makes: where each partition is committed, and its seeks."""

    def __init__(self, committed: dict[TopicPartition, int | None]) -> None:
        self.commits = committed
        self.seeks: dict[TopicPartition, int] = {}

    async def committed(self, partition: TopicPartition) -> int | None:
        return self.commits[partition]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks[partition] = offset


def test_a_reader_seeks_each_partition_to_offset_zero() -> None:
    partitions = [TopicPartition("gvi.tasks.skatteverket", n) for n in range(3)]
    consumer = Consumer({})
    seek_to_start(consumer, partitions)
    assert consumer.seeks == dict.fromkeys(partitions, 0)


def test_a_group_member_starts_only_its_uncommitted_partitions_at_zero() -> None:
    fresh, committed = (TopicPartition("gvi.tasks.kronofogden", n) for n in range(2))
    consumer = Consumer({fresh: None, committed: 7})
    asyncio.run(StartUncommittedAtZero(consumer).on_partitions_assigned({fresh, committed}))
    assert consumer.seeks == {fresh: 0}, "a committed partition resumes where its group left it"

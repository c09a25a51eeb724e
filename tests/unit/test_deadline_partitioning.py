"""The deadline timer finds a task's partition as the producer placed it."""

import uuid

from aiokafka.partitioner import DefaultPartitioner

from workers.agents.deadlines import partition_of


def test_partition_of_matches_the_producers_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for count in (1, 4, 7):
        every = list(range(count))
        for number in range(300):
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"task-{number}"))
            assert partition_of(key, count) == partitioner(key.encode(), every, every)

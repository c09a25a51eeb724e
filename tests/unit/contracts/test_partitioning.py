"""The owner of a key is the partition the worker's own producer (murmur2) places it on."""

import uuid

from aiokafka.partitioner import DefaultPartitioner

from events.partitioning import needs_forwarding, partition_of


def test_partition_of_matches_the_producers_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for count in (1, 4, 7):
        every = list(range(count))
        for number in range(300):
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"task-{number}"))
            assert partition_of(key, count) == partitioner(key.encode(), every, every)


def test_a_message_is_forwarded_only_when_it_arrived_off_its_owner_partition() -> None:
    key = b"INC-2026-HUD-0042"
    owner = partition_of(key.decode(), 4)
    assert not needs_forwarding(key, owner, 4)
    assert all(needs_forwarding(key, other, 4) for other in range(4) if other != owner)


def test_a_message_without_a_usable_key_is_answered_where_it_arrived() -> None:
    assert not needs_forwarding(None, 3, 4)
    assert not needs_forwarding(b"", 3, 4)
    huge = b"k" * 5000
    assert not needs_forwarding(huge, (partition_of(huge.decode(), 4) + 1) % 4, 4)

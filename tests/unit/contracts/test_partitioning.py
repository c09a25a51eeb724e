"""The owner of a key is the partition the worker's own producer (murmur2) places it on."""

import uuid

import pytest
from aiokafka import partitioner as aiokafka_partitioner
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from events import partitioning
from events.partitioning import (
    HASHED_KEYS_KEPT,
    key_partitioner,
    needs_forwarding,
    owner_partition,
    partition_of,
)


def test_partition_of_matches_the_producers_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for count in (1, 4, 7):
        every = list(range(count))
        for number in range(300):
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"task-{number}"))
            assert partition_of(key, count) == partitioner(key.encode(), every, every)


@given(keys=st.lists(st.binary(max_size=300), min_size=1, max_size=50), count=st.integers(1, 64))
def test_the_workers_partitioner_places_every_key_as_aiokafkas_default_does(
    keys: list[bytes], count: int
) -> None:
    every = list(range(count))
    for key in keys + keys:  # the second time from the remembered hash
        assert key_partitioner(key, every, every) == DefaultPartitioner()(key, every, every)
        assert owner_partition(key, count) == key_partitioner(key, every, every)


@given(key=st.binary(max_size=1100))
def test_the_native_murmur2_is_kafkas(key: bytes) -> None:
    assert partitioning.murmur2(key) == aiokafka_partitioner.murmur2(key) & 0xFFFFFFFF


def test_the_native_murmur2_gives_javas_hashes() -> None:
    # org.apache.kafka.common.utils.UtilsTest.testMurmur2, as unsigned 32-bit values
    java = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, signed in java.items():
        assert partitioning.murmur2(key) == signed & 0xFFFFFFFF


def test_a_key_is_hashed_once_while_it_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[bytes] = []

    def counted(key: bytes) -> int:
        hashed.append(key)
        return int(aiokafka_partitioner.murmur2(key))

    monkeypatch.setattr(partitioning, "murmur2", counted)
    partitioning._hashed.cache_clear()
    key, every = b"8f0c3a52-6d61-5d0e-9a3b-3f1c2a7e9b10", [0, 1, 2, 3]
    for _ in range(3):
        key_partitioner(key, every, every)
        partition_of(key.decode(), 4)
    assert hashed == [key]
    for number in range(HASHED_KEYS_KEPT):
        owner_partition(f"task-{number}".encode(), 4)
    key_partitioner(key, every, every)
    assert hashed[-1] == key and len(hashed) == HASHED_KEYS_KEPT + 2
    partitioning._hashed.cache_clear()


def test_a_message_without_a_key_goes_to_an_available_partition() -> None:
    assert {key_partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert key_partitioner(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}


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

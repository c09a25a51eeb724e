"""Which partition owns a key: murmur2, as Java clients, aiokafka and the worker's producer hash."""

import functools
import random

from murmurhash2 import murmurhash2

KAFKA_MURMUR2_SEED = 0x9747B28C
"""The seed of Kafka's murmur2 (Java's `Utils.murmur2`, aiokafka's `partitioner.murmur2`)."""

MAX_ROUTED_KEY_BYTES = 1024
"""A longer key names no valid id (ids have at most 128 characters): it is answered where it
arrived, never forwarded."""


HASHED_KEYS_KEPT = 4096
"""Keys whose hash is remembered: a batch routes a task id, then produces its view and its audit
record under it (about 20 keys per incident; a batch holds up to 32 messages by default)."""


def murmur2(key: bytes) -> int:
    """Kafka's murmur2 of a key, in native code (aiokafka's pure-Python one took about 6 µs a
    key, 3 % of the handlers' CPU)."""
    return murmurhash2(key, KAFKA_MURMUR2_SEED)


@functools.lru_cache(maxsize=HASHED_KEYS_KEPT)
def _hashed(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def owner_partition(key: bytes, partitions: int) -> int:
    """The partition that holds the state of `key`: Kafka's default (murmur2) partitioner."""
    return _hashed(key) % partitions


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioner with each key hashed once (`owner_partition`): the
    producer's partitioner of the worker (faust's `producer_partitioner`)."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[owner_partition(key, len(all_partitions))]


def partition_of(key: str, partitions: int) -> int:
    """`owner_partition` of a text key."""
    return owner_partition(key.encode("utf-8"), partitions)


def needs_forwarding(key: bytes | None, partition: int, partitions: int) -> bool:
    """True for a message that arrived on a partition other than the owner of its key.

    Outside producers choose partitions their own way: librdkafka-based clients (kcat,
    confluent-kafka, Go, .NET, Node) hash with CRC32 by default, and a producer may pick a
    partition itself. A message without a usable key cannot touch state and is answered where
    it arrived.
    """
    if not key or len(key) > MAX_ROUTED_KEY_BYTES:
        return False
    return owner_partition(key, partitions) != partition

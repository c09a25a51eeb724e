"""Which partition owns a key: murmur2, as Java clients, aiokafka and the worker's producer hash."""

from aiokafka.partitioner import murmur2

MAX_ROUTED_KEY_BYTES = 1024
"""A longer key names no valid id (ids have at most 128 characters): it is answered where it
arrived, never forwarded."""


def owner_partition(key: bytes, partitions: int) -> int:
    """The partition that holds the state of `key`: Kafka's default (murmur2) partitioner."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


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

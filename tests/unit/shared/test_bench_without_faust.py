"""The pieces of `make bench-without-faust` that stand in for faust: consumed records as the
agents' events, changelog records on the partition of the message that caused them, and the
offsets committed."""

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from benchmarks.without_faust import (
    ChangelogRecords,
    CountingProducer,
    NamedTable,
    Offsets,
    consumed,
)
from workers.stream.changelog import TableWrite


def _record(headers: tuple[tuple[str, bytes], ...] = ()) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="gvi.internal.group-work",
        partition=3,
        offset=41,
        timestamp=1_796_000_000_250,
        timestamp_type=0,
        key=b"GRP-TEST-A",
        value=b"{}",
        checksum=None,
        serialized_key_size=10,
        serialized_value_size=2,
        headers=headers,
    )


def test_a_consumed_record_is_the_event_an_agent_reads() -> None:
    event = consumed(_record())
    message = event.message
    assert (message.topic, message.partition, message.offset) == ("gvi.internal.group-work", 3, 41)
    assert message.key == event.key == b"GRP-TEST-A" and message.value == event.value == b"{}"
    assert message.timestamp == 1_796_000_000.25, "in seconds, as faust gives it"
    assert message.headers is None
    assert consumed(_record((("gvi-source-topic", b"gvi.incidents"),))).message.headers == [
        ("gvi-source-topic", b"gvi.incidents")
    ]


class ListedBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []

    def append(self, timestamp: Any, key: bytes, value: bytes | None, headers: Any) -> object:
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class ListedProducer:
    """aiokafka's batch API over lists: each batch acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []

    def create_batch(self) -> ListedBatch:
        return ListedBatch()

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def send_batch(self, batch: ListedBatch, topic: str, partition: int) -> Any:
        self.sent.append((topic, partition, batch.records))
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(SimpleNamespace(offset=0))
        return acknowledged


def test_changelog_records_go_to_the_partition_of_their_message_and_are_counted() -> None:
    async def run() -> tuple[ListedProducer, CountingProducer, NamedTable]:
        listed = ListedProducer()
        counting = CountingProducer(listed)
        table = NamedTable("group-plans")
        writer = ChangelogRecords(counting, "bench.nofaust")
        cause = consumed(_record())
        writes = [
            TableWrite(table, "GRP-TEST-A", b'{"plans": 1}', cause),
            TableWrite(table, "GRP-TEST-B", None, cause),
        ]
        assert writer.put(writes[0]) is None
        assert table == {"GRP-TEST-A": b'{"plans": 1}'}
        await asyncio.gather(*await writer.record(writes))
        await asyncio.sleep(0)  # the acknowledgement's callbacks
        return listed, counting, table

    listed, counting, _ = asyncio.run(run())
    assert listed.sent == [
        (
            "bench.nofaust-group-plans-changelog",
            3,
            [(b'"GRP-TEST-A"', b'{"plans": 1}'), (b'"GRP-TEST-B"', None)],
        )
    ]
    assert counting.acknowledged == {"bench.nofaust-group-plans-changelog": 2}
    assert counting.tasks_sent == 0, "no task topic was written"


def test_the_next_offset_of_each_partition_is_what_is_committed() -> None:
    async def run() -> Offsets:
        offsets = Offsets()
        for event in (_at(5), consumed(_record()), _at(6)):
            await offsets.ack(event)
        return offsets

    offsets = asyncio.run(run())
    assert offsets.handled == 3
    assert offsets.next == {
        TopicPartition("gvi.internal.group-work", 3): 42,
        TopicPartition("gvi.incidents", 0): 7,
    }


def _at(offset: int) -> Any:
    message = SimpleNamespace(topic="gvi.incidents", partition=0, offset=offset)
    return SimpleNamespace(message=message)

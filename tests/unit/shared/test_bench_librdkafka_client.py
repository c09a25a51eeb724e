"""The pieces of `benchmarks/librdkafka_client.py` that stand in for aiokafka's calls: a batch
acknowledged once all its delivery reports are in (its first offset, or its first error), and
librdkafka's messages read as aiokafka's records."""

import asyncio
from typing import Any

import confluent_kafka
import pytest

from benchmarks.librdkafka_client import Acknowledged, BatchAcks, Consumed, ListedRecords
from benchmarks.without_faust import consumed


class Report:
    """A delivery report's message, as librdkafka hands it to the callback."""

    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


def test_a_batch_is_acknowledged_with_its_first_offset_once_every_report_is_in() -> None:
    async def run() -> tuple[bool, Acknowledged]:
        acks = BatchAcks("gvi.tasks.skatteverket", 2, 3)
        acks.delivered(None, Report(18))
        acks.delivered(None, Report(17))
        waiting = not acks.future.done()
        acks.delivered(None, Report(19))
        return waiting, await acks.future

    waiting, acknowledged = asyncio.run(run())
    assert waiting, "two reports of three are not the batch's acknowledgement"
    assert acknowledged == Acknowledged("gvi.tasks.skatteverket", 2, 17)


def test_a_batch_with_a_refused_record_raises_its_first_error() -> None:
    timed_out = confluent_kafka.KafkaError(confluent_kafka.KafkaError._MSG_TIMED_OUT)

    async def run() -> None:
        acks = BatchAcks("gvi.audit", 0, 2)
        acks.delivered(timed_out, None)
        acks.delivered(None, Report(4))
        await acks.future

    with pytest.raises(confluent_kafka.KafkaException) as raised:
        asyncio.run(run())
    assert raised.value.args[0].code() == confluent_kafka.KafkaError._MSG_TIMED_OUT


def test_a_listed_batch_keeps_its_records_in_order() -> None:
    batch = ListedRecords()
    for number in range(3):
        appended = batch.append(None, f"TASK-{number}".encode(), b"{}", [])
        assert appended is not None, "BatchedSend reads None as a full batch"
    assert batch.record_count() == 3
    assert [key for key, _, _ in batch.records] == [b"TASK-0", b"TASK-1", b"TASK-2"]


class Message:
    """librdkafka's consumed message: its fields through methods."""

    def __init__(self, error: Any = None, headers: list[tuple[str, bytes]] | None = None):
        self._error, self._headers = error, headers

    def error(self) -> Any:
        return self._error

    def topic(self) -> str:
        return "gvi.internal.task-commands"

    def partition(self) -> int:
        return 1

    def offset(self) -> int:
        return 230

    def key(self) -> bytes:
        return b"TASK-A"

    def value(self) -> bytes:
        return b"{}"

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (confluent_kafka.TIMESTAMP_CREATE_TIME, 1_796_000_000_500)


def test_a_librdkafka_message_is_the_event_an_agent_reads() -> None:
    event = consumed(Consumed.of(Message()))
    message = event.message
    assert (message.topic, message.partition, message.offset) == (
        "gvi.internal.task-commands",
        1,
        230,
    )
    assert message.key == b"TASK-A" and message.value == b"{}"
    assert message.timestamp == 1_796_000_000.5, "in seconds, as faust gives it"
    assert message.headers is None
    with_headers = Consumed.of(Message(headers=[("gvi-source-topic", b"gvi.incidents")]))
    assert consumed(with_headers).message.headers == [("gvi-source-topic", b"gvi.incidents")]


def test_a_consumed_error_is_raised_not_handed_to_a_stage() -> None:
    unknown = confluent_kafka.KafkaError(confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART)
    with pytest.raises(confluent_kafka.KafkaException):
        Consumed.of(Message(error=unknown))

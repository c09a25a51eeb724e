"""Canaries and behaviour of the quarantined fix for unreadable record batches (aiokafka 0.14)."""

import struct

import pytest
from aiokafka.consumer import fetcher
from aiokafka.errors import KafkaError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition

from workers.faust_fixes import late_writes, unreadable_batches
from workers.faust_fixes.unreadable_batches import (
    UNREADABLE_HEADER,
    SafePartitionRecords,
    unreadable_reason,
)

TP = TopicPartition("gvi.incidents", 2)


def _batch(base_offset: int, codec: int = 1, records: int = 3) -> bytearray:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1_000_000,
    )
    for n in range(records):
        builder.append(n, timestamp=1_763_000_000_000, key=b"INC-%d" % n, value=b"{}", headers=[])
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, base_offset)
    return raw


def _with_unknown_codec(raw: bytearray) -> bytearray:
    raw[21:23] = struct.pack(">h", 5)  # compression bits 5: no codec has that number
    struct.pack_into(">I", raw, 17, calc_crc32c(bytes(raw[21:])))
    return raw


def _records(cls: type, raw: bytes, fetch_offset: int = 0) -> list[object]:
    partition = cls(TP, MemoryRecords(bytes(raw)), [], fetch_offset, None, None, True, 0)
    return list(partition)


def test_canary_plain_aiokafka_still_raises_on_an_unknown_codec() -> None:
    raw = _batch(0) + _with_unknown_codec(_batch(3))
    with pytest.raises(KafkaError):
        _records(late_writes.UPSTREAM, raw)


def test_an_unknown_codec_becomes_one_placeholder_per_offset_and_reading_goes_on() -> None:
    raw = _batch(0) + _with_unknown_codec(_batch(3)) + _batch(6)
    records = _records(SafePartitionRecords, raw)
    assert [r.offset for r in records] == list(range(9))
    placeholders = [r for r in records if unreadable_reason(r.headers)]
    assert [r.offset for r in placeholders] == [3, 4, 5]
    assert all(r.key is None and r.value is None for r in placeholders)
    assert "codec" in (unreadable_reason(placeholders[0].headers) or "").lower()
    assert all(r.value == b"{}" for r in records if r not in placeholders)


def test_a_batch_failing_its_crc_is_answered_too() -> None:
    corrupt = _batch(3)
    corrupt[-1] ^= 0xFF
    records = _records(SafePartitionRecords, _batch(0) + corrupt)
    reasons = {r.offset: unreadable_reason(r.headers) for r in records}
    assert [o for o, reason in reasons.items() if reason] == [3, 4, 5]
    assert "CRC" in (reasons[3] or "")


def test_install_puts_the_safe_records_into_the_fetcher() -> None:
    unreadable_batches.install()
    assert fetcher.PartitionRecords is SafePartitionRecords
    assert UNREADABLE_HEADER == "gvi-unreadable-batch"

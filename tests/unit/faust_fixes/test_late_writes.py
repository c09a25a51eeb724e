"""Canary and behaviour of the quarantined fix that holds a fetch at a gap in a partition's
offsets, for Tansu's records stored after the ones behind them (aiokafka 0.14)."""

import pytest
from aiokafka.consumer import fetcher
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from tests.unit.faust_fixes.test_unreadable_batches import _batch
from workers.faust_fixes import late_writes
from workers.faust_fixes.late_writes import (
    UPSTREAM,
    GapHoldingPartitionRecords,
    RecordsHeldAtGaps,
    held_at_gaps,
)
from workers.faust_fixes.unreadable_batches import SafePartitionRecords

TP = TopicPartition("gvi.internal.task-commands", 1)


@pytest.fixture(autouse=True)
def no_gaps_seen_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(late_writes, "_gaps_seen", {})


def _read(raw: bytes, fetch_offset: int = 0, hold_seconds: float = 10.0) -> tuple[list[int], int]:
    """The offsets handed out of one fetch's records, held at gaps, and the next fetch's offset."""
    held = RecordsHeldAtGaps(MemoryRecords(bytes(raw)), TP, fetch_offset, hold_seconds)
    partition = UPSTREAM(TP, held, [], fetch_offset, None, None, True, 0)
    offsets = [record.offset for record in partition]
    return offsets, partition.next_fetch_offset


def test_canary_plain_aiokafka_moves_past_a_gap_for_good() -> None:
    partition = UPSTREAM(
        TP, MemoryRecords(bytes(_batch(0) + _batch(5))), [], 0, None, None, True, 0
    )
    assert [record.offset for record in partition] == [0, 1, 2, 5, 6, 7]
    assert partition.next_fetch_offset == 8


def test_records_are_handed_out_up_to_the_gap_and_the_next_fetch_asks_for_it() -> None:
    assert _read(_batch(0) + _batch(5)) == ([0, 1, 2], 3)
    assert set(late_writes._gaps_seen) == {(TP.topic, TP.partition, 3)}


def test_a_fetch_that_starts_after_its_offset_hands_out_nothing() -> None:
    assert _read(_batch(5), fetch_offset=3) == ([], 3)


def test_a_fetch_from_inside_a_batch_is_no_gap() -> None:
    assert _read(_batch(0) + _batch(3), fetch_offset=1) == ([1, 2, 3, 4, 5], 6)
    assert late_writes._gaps_seen == {}


def test_an_old_message_set_without_a_base_offset_is_read_as_aiokafka_reads_it() -> None:
    legacy = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1_000_000)
    for offset in range(5, 8):
        legacy.append(offset, timestamp=1_763_000_000_000, key=b"INC-1", value=b"{}")
    assert _read(bytes(legacy.build())) == ([5, 6, 7], 8)


def test_once_the_late_record_comes_the_gap_is_forgotten() -> None:
    assert _read(_batch(0) + _batch(5)) == ([0, 1, 2], 3)
    assert _read(_batch(3, records=2) + _batch(5), fetch_offset=3) == ([3, 4, 5, 6, 7], 8)
    assert late_writes._gaps_seen == {}


def test_a_gap_open_longer_than_the_hold_is_a_hole_and_passed_over() -> None:
    assert _read(_batch(0) + _batch(5), hold_seconds=0.0) == ([0, 1, 2, 5, 6, 7], 8)
    assert late_writes._gaps_seen == {}


def test_the_records_are_untouched_until_the_process_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    records = MemoryRecords(bytes(_batch(0)))
    monkeypatch.setattr(late_writes, "_holding", False)
    assert held_at_gaps(records, TP, 0) is records
    monkeypatch.setattr(late_writes, "_holding", True)
    assert isinstance(held_at_gaps(records, TP, 0), RecordsHeldAtGaps)


def test_install_holds_in_the_fetcher_and_keeps_the_unreadable_batch_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(late_writes, "_holding", False)
    monkeypatch.setattr(fetcher, "PartitionRecords", UPSTREAM)
    late_writes.install()
    assert late_writes.holding()
    assert fetcher.PartitionRecords is GapHoldingPartitionRecords
    monkeypatch.setattr(fetcher, "PartitionRecords", SafePartitionRecords)
    late_writes.install()
    assert fetcher.PartitionRecords is SafePartitionRecords
    partition = SafePartitionRecords(
        TP, MemoryRecords(bytes(_batch(0) + _batch(5))), [], 0, None, None, True, 0
    )
    assert [record.offset for record in partition] == [0, 1, 2]
    assert partition.next_fetch_offset == 3

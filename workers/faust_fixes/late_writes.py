"""On Tansu, a fetch can hand out a partition's record N+1 before record N is stored: readers
hold at such a gap instead of moving past it.

Tansu 0.6.0 gives a record its offset (moves the partition's watermark) before it stores the
record. While two producers write one partition, a fetch can find record N+1 stored and N not
yet; aiokafka's fetcher then hands out N+1 and moves the consumer past N for good (docs/
streams.md, "A gap in a partition's offsets is waited for, on Tansu"). Once installed (by a
process whose broker is Tansu, `workers.tools.kafka_clients.hold_at_gaps_on_tansu`), a fetched
partition's records are handed out up to the first gap in their offsets only, and the position
stays at the gap, so that the next fetch asks for the missing offset again. A gap still open
after `HOLD_SECONDS` is a real hole, logged and passed over. On Apache Kafka gaps are normal
(compacted topics, deleted records): nothing installs this there.

A fix to aiokafka's private fetcher: pinned (`workers.faust_fixes.PINNED`), the upstream
`PartitionRecords` watched by the canaries of `workers.faust_fixes.REPLACED`, the behaviour by
`tests/unit/faust_fixes/test_late_writes.py`.
"""

import time
from typing import Any

import structlog
from aiokafka.consumer import fetcher

from workers.faust_fixes import require_pinned_versions

log = structlog.get_logger("gvi.late_writes")
UPSTREAM: type = fetcher.PartitionRecords
HOLD_SECONDS = 10.0
"""How long a gap may stay open before it counts as a hole. Gaps met by a probe on a busy
machine closed within 25 ms to 0.9 s (docs/streams.md); each closed gap is logged with its wait."""

_holding = False
_gaps_seen: dict[tuple[str, int, int], float] = {}
"""(topic, partition, first missing offset) → when a fetch of this process first met the gap."""


class RecordsHeldAtGaps:
    """The fetched record batches of one partition, handed out up to the first gap in their
    offsets (from the offset fetched); the batches after it are dropped, to be fetched again."""

    def __init__(
        self, records: Any, tp: Any, fetch_offset: int, hold_seconds: float = HOLD_SECONDS
    ) -> None:
        self._records = records
        self._tp = tp
        self._expected = fetch_offset
        self._hold_seconds = hold_seconds
        self._peeked: Any = None
        self._held = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def has_next(self) -> bool:
        if self._peeked is not None:
            return True
        if self._held or not self._records.has_next():
            return False
        batch = self._records.next_batch()
        if batch is None:
            return False
        # A v0/v1 message set has no base offset (a compressed one is numbered by its last
        # record): only v2 batches, the ones Tansu stores, are checked.
        first = getattr(batch, "base_offset", None)
        if first is not None and first > self._expected and self._hold(first):
            self._held = True
            return False
        self._closed()
        self._peeked = batch
        return True

    def next_batch(self) -> Any:
        if not self.has_next():
            return None
        batch, self._peeked = self._peeked, None
        self._expected = max(self._expected, int(batch.next_offset))
        return batch

    def _hold(self, found: int) -> bool:
        """Whether to wait for the offsets from `self._expected` to `found` - 1 once more."""
        gap = (self._tp.topic, self._tp.partition, self._expected)
        now = time.monotonic()
        first = _gaps_seen.setdefault(gap, now)
        if now - first < self._hold_seconds:
            if len(_gaps_seen) > 1000:
                _forget_gaps_before(now - 10 * self._hold_seconds)
            return True
        _gaps_seen.pop(gap, None)
        log.warning(
            "offsets never written: passed over",
            topic=self._tp.topic,
            partition=self._tp.partition,
            offsets=f"{self._expected}-{found - 1}",
            waited_s=round(now - first, 3),
        )
        return False

    def _closed(self) -> None:
        """Log a gap this fetch no longer meets (the record written late has come)."""
        if not _gaps_seen:
            return
        first = _gaps_seen.pop((self._tp.topic, self._tp.partition, self._expected), None)
        if first is not None:
            log.info(
                "a record stored after the ones behind it was waited for",
                topic=self._tp.topic,
                partition=self._tp.partition,
                offset=self._expected,
                waited_ms=round(1000 * (time.monotonic() - first), 1),
            )


def _forget_gaps_before(moment: float) -> None:
    for gap, first in list(_gaps_seen.items()):
        if first < moment:
            _gaps_seen.pop(gap, None)


def held_at_gaps(records: Any, tp: Any, fetch_offset: int) -> Any:
    """The fetched records, held at gaps once this process holds (`install`)."""
    return RecordsHeldAtGaps(records, tp, fetch_offset) if _holding else records


class GapHoldingPartitionRecords(UPSTREAM):  # type: ignore[misc]
    """aiokafka's `PartitionRecords` over `held_at_gaps`."""

    replaces = UPSTREAM  # the class installed in its place (for the canary digests)

    def __init__(self, tp: Any, records: Any, aborted: Any, fetch_offset: int, *rest: Any) -> None:
        super().__init__(tp, held_at_gaps(records, tp, fetch_offset), aborted, fetch_offset, *rest)


def install() -> None:
    """Hold at gaps in every fetch of this process from now on; refuses another aiokafka
    version. A subclass installed already (`unreadable_batches`) holds too."""
    global _holding
    require_pinned_versions()
    _holding = True
    if not issubclass(fetcher.PartitionRecords, GapHoldingPartitionRecords):
        fetcher.PartitionRecords = GapHoldingPartitionRecords


def holding() -> bool:
    return _holding

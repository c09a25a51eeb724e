"""A record batch that cannot be read (corrupt, an unknown codec) becomes answerable messages.

aiokafka 0.14 raises from the fetcher when one batch fails its CRC or cannot be decompressed
(`UnsupportedCodecError`, a broken lz4 frame, …). faust's consumer thread dies on it; the
restarted worker fetches the same batch and dies again: a poison pill. Here each offset of such
a batch is delivered as a placeholder message (no key, no value, an `UNREADABLE_HEADER` naming
the error), so that the error boundary answers it on `gvi.rejected` with its coordinates, its
offset is committed like any other, and the partition goes on.

A fix to aiokafka's private fetcher: pinned (`workers.faust_fixes.PINNED`), the upstream
method watched by the canaries of `workers.faust_fixes.REPLACED`, its behaviour by
`tests/unit/faust_fixes/test_unreadable_batches.py`.
"""

from collections.abc import Iterator
from typing import Any

import structlog
from aiokafka.consumer import fetcher

from workers.faust_fixes import require_pinned_versions
from workers.faust_fixes.late_writes import UPSTREAM, GapHoldingPartitionRecords

log = structlog.get_logger("gvi.unreadable")
UNREADABLE_HEADER = "gvi-unreadable-batch"


class _Placeholder:
    """Stands for one record of an unreadable batch, with the attributes aiokafka reads."""

    def __init__(self, offset: int, timestamp: int, reason: str) -> None:
        self.offset = offset
        self.timestamp = timestamp
        self.timestamp_type = 0
        self.key = None
        self.value = None
        self.checksum = None
        self.headers = [(UNREADABLE_HEADER, reason.encode("utf-8")[:1000])]


class _SafeBatch:
    """One record batch whose records are read with care: a failure yields placeholders for the
    offsets not yet read instead of an exception."""

    def __init__(self, batch: Any, tp: Any) -> None:
        self._batch = batch
        self._tp = tp
        self._crc_ok = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        try:
            self._crc_ok = bool(self._batch.validate_crc())
        except Exception:
            self._crc_ok = False
        return True  # a bad CRC is answered per record below, not raised for the whole fetch

    def __iter__(self) -> Iterator[Any]:
        next_offset = int(self._batch.base_offset)
        end = int(self._batch.next_offset)
        timestamp = int(getattr(self._batch, "first_timestamp", 0) or 0)
        reason = "" if self._crc_ok else "the batch failed its CRC check"
        if not reason:
            try:
                for record in self._batch:
                    next_offset = record.offset + 1
                    yield record
                return
            except Exception as error:
                reason = f"{type(error).__name__}: {error}"
        log.error(
            "record batch cannot be read; each of its offsets is answered on the rejection stream",
            topic=self._tp.topic,
            partition=self._tp.partition,
            offsets=f"{next_offset}-{end - 1}",
            reason=reason,
        )
        for offset in range(next_offset, end):
            yield _Placeholder(offset, timestamp, reason)


class _SafeRecords:
    """The fetched records of one partition, handing out `_SafeBatch`es."""

    def __init__(self, records: Any, tp: Any) -> None:
        self._records = records
        self._tp = tp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        return _SafeBatch(batch, self._tp) if batch is not None else None


class SafePartitionRecords(GapHoldingPartitionRecords):
    """aiokafka's `PartitionRecords` over `_SafeRecords` (held at gaps where late writes are
    expected, `late_writes`)."""

    replaces = UPSTREAM  # the class installed in its place (for the canary digests)

    def __init__(self, tp: Any, records: Any, *rest: Any) -> None:
        super().__init__(tp, _SafeRecords(records, tp), *rest)


def install() -> None:
    """Make aiokafka's fetcher build `SafePartitionRecords`; refuses another aiokafka version."""
    require_pinned_versions()
    fetcher.PartitionRecords = SafePartitionRecords


def unreadable_reason(headers: Any) -> str | None:
    """The error of a placeholder message, or None for a real one."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    for name, value in pairs:
        if name == UNREADABLE_HEADER:
            return bytes(value).decode("utf-8", errors="replace")
    return None

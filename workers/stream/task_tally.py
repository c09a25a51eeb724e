"""The task gauges' counts, kept as the worker writes tasks and counted afresh after a rebalance."""

import asyncio
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from events.partitioning import partition_of
from workers.stream.stores import STATUS, sliced

RECIPIENT = re.compile(rb'"recipient":"([^"]+)"')

Kind = tuple[str, str, bool, bool]
"""What the gauges tell of a task: recipient, status, overdue, escalated."""


def kind_of(stored: bytes | None) -> Kind | None:
    """A stored task record's kind, read from its JSON bytes (the task's own fields first)."""
    if not stored:
        return None
    recipient, status = RECIPIENT.search(stored), STATUS.search(stored)
    if recipient is None or status is None:
        return None
    return (
        recipient.group(1).decode(),
        status.group(1).decode(),
        b'"overdue":true' in stored,
        b'"escalated":true' in stored,
    )


@dataclass(frozen=True)
class TaskTotals:
    """The gauges' values over some partitions."""

    by_status: Counter[tuple[str, str]]
    overdue: Counter[str]
    escalated: Counter[str]


@dataclass
class TaskTally:
    """Tasks per partition and kind. Every task write the worker makes moves one count
    (`replace`): a `/metrics` scrape reads the counts instead of the task table. The table's
    store is also written by faust itself, when it recovers a partition; so the counts are
    taken afresh from the table (`recount`) once after each rebalance, as soon as the tables
    are recovered, and shown only once they are."""

    partitions: int
    counts: Counter[tuple[int, Kind]] = field(default_factory=Counter)
    counted_in: int | None = None
    """The consumer generation whose table the counts were taken from (None: never)."""
    counting: tuple[int, "asyncio.Future[None]"] | None = None

    def replace(self, partition: int, old: bytes | None, new: bytes | None) -> None:
        """A task record of `partition` went from `old` to `new` (None: absent)."""
        before, after = kind_of(old), kind_of(new)
        if before == after:
            return
        if before is not None:
            self.counts[(partition, before)] -= 1
        if after is not None:
            self.counts[(partition, after)] += 1

    def count(self, table: Any, generation: int) -> "asyncio.Future[None]":
        """The one recount of `generation`'s table, started unless it runs already."""
        if self.counting is None or self.counting[0] != generation:
            self.counting = (generation, asyncio.ensure_future(self.recount(table, generation)))
        return self.counting[1]

    async def counted(self, table: Any, generation: int) -> None:
        """Once the counts are those of `generation`'s table: at once if they are, else after
        its recount."""
        if self.counted_in != generation:
            await asyncio.shield(self.count(table, generation))

    async def recount(self, table: Any, generation: int) -> None:
        """Count every record of `table` again, giving the event loop back between slices.
        The writes made meanwhile move the new counts: the table is copied before the first
        slice, in the same step that empties the counts."""
        counts = self.counts = Counter()
        async for key, stored in sliced(table):
            kind = kind_of(stored)
            if kind is not None:
                counts[(partition_of(key, self.partitions), kind)] += 1
        if counts is self.counts:
            self.counted_in = generation

    def totals(self, partitions: Iterable[int]) -> TaskTotals:
        """The gauges' values over `partitions` (those the worker actively owns)."""
        mine = set(partitions)
        by_status: Counter[tuple[str, str]] = Counter()
        overdue: Counter[str] = Counter()
        escalated: Counter[str] = Counter()
        for (partition, (recipient, status, late, raised)), count in self.counts.items():
            if partition not in mine or not count:
                continue
            by_status[(recipient, status)] += count
            overdue[recipient] += count if late else 0
            escalated[recipient] += count if raised else 0
        return TaskTotals(by_status, overdue, escalated)

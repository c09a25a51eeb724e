"""Typed stores over faust tables: each table keeps one record model, as its JSON bytes."""

import asyncio
import functools
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from events.codec import encode
from schemas.rejection import Refused, RejectionCode
from schemas.task import OPEN_STATUSES
from workers.core.records import GroupPlans
from workers.stream.changelog import TableWrite
from workers.stream.pending import PENDING, UNWRITTEN
from workers.stream.stored_history import group_plans_json

Record = TypeVar("Record", bound=BaseModel)
PARSED_KEPT = 256
"""Records kept parsed per store: a key read again (a large incident's lines, a busy task)
is not validated again while its stored value is the same object."""
MAX_RECORD_BYTES = 900_000
"""Largest record a table takes: its changelog message must stay below Kafka's default
`message.max.bytes` (1 MB). Every record is bounded far below this; the check turns a bound
that failed into an answer to the message instead of a crash of the worker (faust writes the
changelog outside the agent)."""


def stored_json(record: BaseModel) -> bytes:
    """The JSON bytes a table keeps of `record`: without its null fields (a fifth of a task's
    bytes), which every stored model reads back as their default, None
    (tests/unit/stream/test_stored_json.py). Records written with their nulls read the same."""
    if isinstance(record, GroupPlans):
        return group_plans_json(record)
    return encode(record)


class Store(Generic[Record]):
    """One faust table (raw values) as a mapping of keys to `model` records.

    The table holds each record's JSON bytes (`stored_json`), as its changelog does: in memory a
    task takes the size of its JSON, not that of a tree of Python dicts (about a third).
    """

    def __init__(self, table: Any, model: type[Record]) -> None:
        self.table = table
        self.model = model
        self._parsed: dict[str, tuple[Any, Record]] = {}

    def stored(self, key: str) -> bytes | None:
        """The JSON bytes under `key`, as the running batch wrote them if it did."""
        batch = PENDING.get()
        stored = UNWRITTEN if batch is None else batch.state.lookup(self.table, key)
        if stored is UNWRITTEN:
            stored = self.table.get(key)
        return stored or None

    def get(self, key: str) -> Record | None:
        """The record under `key`, as the running batch wrote it if it did."""
        stored = self.stored(key)
        if not stored:
            return None
        cached = self._parsed.get(key)
        if cached is not None and cached[0] is stored:
            return cached[1]
        record = self.model.model_validate_json(stored)
        self.remember(key, stored, record)
        return record

    def encode(self, key: str, record: Record) -> bytes:
        """The record's JSON bytes; raises Refused when they are too large for the changelog."""
        stored = stored_json(record)
        if len(stored) > MAX_RECORD_BYTES:
            raise Refused(
                f"the state of {key!r} would take {len(stored):,} bytes, more than a table "
                f"record may ({MAX_RECORD_BYTES:,}); nothing was changed",
                RejectionCode.INTERNAL_ERROR,
            )
        return stored

    def forget(self, key: str) -> None:
        self._parsed.pop(key, None)

    def items(self, where: Callable[[bytes], bool] | None = None) -> Iterator[tuple[str, Record]]:
        """Every record of this worker's partitions (for timers; a copy, safe to write during),
        or those whose stored JSON bytes pass `where` (a cheap filter before parsing)."""
        for key, stored in list(self.table.items()):
            if stored and (where is None or where(stored)):
                record = self.get(key)
                if record is not None:
                    yield key, record

    async def sorted_out(
        self,
        tests: Sequence[Callable[[bytes], bool]],
        each: Callable[[str, bytes, bool], None] | None = None,
    ) -> list[list[tuple[str, Record]]]:
        """In one pass over the worker's records, those whose stored bytes pass each of `tests`
        (one list per test), giving the event loop back between short slices (`sliced`): a
        timer over 60,000 tasks never holds the agents up for the whole table. `each` sees
        every record read, and whether it passed any test."""
        found: list[list[tuple[str, Record]]] = [[] for _ in tests]
        async for key, stored in sliced(self.table):
            matched = False
            for test, passed in zip(tests, found, strict=True):
                if test(stored):
                    matched = True
                    record = self.get(key)
                    if record is not None:
                        passed.append((key, record))
            if each is not None:
                each(key, stored, matched)
        return found

    def remember(self, key: str, stored: Any, record: Record) -> None:
        if len(self._parsed) >= PARSED_KEPT:
            self._parsed.clear()
        self._parsed[key] = (stored, record)


SCAN_SLICE = 500
SCAN_SLICE_SECONDS = 0.002
"""Most records, and longest time, a timer or a `/metrics` recount reads before it gives the
event loop back."""
SCAN_PAUSE_SECONDS = 0.002
"""How long it then leaves the event loop to the agents before it reads on."""


async def sliced(
    table: Any, clock: Callable[[], float] = time.perf_counter
) -> AsyncIterator[tuple[str, bytes]]:
    """Every (key, stored bytes) of `table` (a copy: safe to write during), pausing for
    `SCAN_PAUSE_SECONDS` after each slice of `SCAN_SLICE` records or `SCAN_SLICE_SECONDS` of
    reading (the caller's work on each record included).

    The deadline timer's pass over 60,000 tasks takes about half a second of CPU. Given back
    only every 500 records (`asyncio.sleep(0)`), it ran one slice of several milliseconds in
    every turn of the event loop while it lasted, so each step of an incident waited behind
    one: at 10 incidents/s one incident in a hundred took 400-500 ms (docs/benchmarks.md).
    Paused, it leaves the loop to the agents for as long as it has just taken."""
    slice_ends, read = clock() + SCAN_SLICE_SECONDS, 0
    for key, stored in list(table.items()):
        if stored:
            yield key, stored
        read += 1
        if read >= SCAN_SLICE or clock() >= slice_ends:
            await asyncio.sleep(SCAN_PAUSE_SECONDS)
            slice_ends, read = clock() + SCAN_SLICE_SECONDS, 0


@dataclass
class Writes:
    """The table writes of one message, encoded and checked before its outputs are sent, and
    made only after the broker acknowledged them."""

    pending: list[tuple[Store[Any], str, bytes | None, Any]] = field(default_factory=list)

    def put(self, store: Store[Record], key: str, record: Record) -> None:
        self.pending.append((store, key, store.encode(key, record), record))

    def pop(self, store: Store[Any], key: str) -> None:
        self.pending.append((store, key, None, None))

    def change(
        self, store: Store[Record], key: str, old: Record | None, new: Record | None
    ) -> None:
        """Write `new` unless its JSON bytes are those stored under `key` (`old`'s, read
        before): equality on the encoded bytes, not a deep comparison of the records. Remove
        the key when `new` is None."""
        if new is None:
            if old is not None:
                self.pop(store, key)
        elif new is not old:
            stored = store.encode(key, new)
            if old is None or stored != store.stored(key):
                self.pending.append((store, key, stored, new))

    def record(self) -> None:
        """Keep the writes in the running batch, which makes them once its outputs are
        acknowledged (raises WriteConflict for a key an earlier message of the batch wrote)."""
        batch = PENDING.get()
        assert batch is not None
        for store, key, stored, record in self.pending:
            batch.state.write(store.table, key, stored)
            if record is not None:
                store.remember(key, stored, record)

    def table_writes(self, event: Any) -> list[TableWrite]:
        """The writes to make now (outside a batch), as caused by `event`; each store
        remembers its new record."""
        made = []
        for store, key, stored, record in self.pending:
            if record is None:
                store.forget(key)
            else:
                store.remember(key, stored, record)
            made.append(TableWrite(store.table, key, stored, event))
        return made


# Cheap tests of a stored task record's JSON bytes, before it is parsed (the timers look at
# every task of the worker's partitions; the task's own fields come first in its JSON).

DEADLINE = re.compile(rb'"deadline":"([^"]+)"')


def past_deadline(now: datetime) -> Callable[[bytes], bool]:
    """A cheap test of a stored task record, before it is parsed: not yet flagged overdue and
    past its deadline (the task's own fields come first in its JSON). The timer looks at every
    task of the worker's partitions."""

    def candidate(stored: bytes) -> bool:
        if b'"overdue":false' not in stored:
            return False
        found = DEADLINE.search(stored)
        return found is None or datetime.fromisoformat(found.group(1).decode()) < now

    return candidate


CREATED_AT = re.compile(rb'"created_at":"([^"]+)"')


def past_reminder(now: datetime, share: float) -> Callable[[bytes], bool]:
    """A cheap test of a stored task record, before it is parsed: not reminded, not overdue,
    and past its reminder point but not its deadline."""

    def candidate(stored: bytes) -> bool:
        if b'"reminded_at":"' in stored or b'"overdue":false' not in stored:
            return False
        created, deadline = CREATED_AT.search(stored), DEADLINE.search(stored)
        if created is None or deadline is None:
            return True
        start = datetime.fromisoformat(created.group(1).decode())
        end = datetime.fromisoformat(deadline.group(1).decode())
        return start + (end - start) * share <= now < end

    return candidate


def not_yet_sent(stored: bytes) -> bool:
    """A cheap test of a stored task record, before it is parsed: kept as created."""
    return b'"status":"created"' in stored


STATUS = re.compile(rb'"status":"([^"]+)"')
OPEN = frozenset(status.value.encode() for status in OPEN_STATUSES)
MOMENTS = re.compile(rb'"created_at":"([^"]+)","deadline":"([^"]+)"')


def attention_at(stored: bytes, share: float | None) -> float:
    """When the timer may first have to act on a stored task record, read from its bytes
    before it is parsed (seconds since the epoch; infinite: never). No later than the core's
    `deadlines.next_attention` for any playbook whose reminder share is at least `share` (the
    earliest of all playbooks'); a record these bytes do not say enough about is due at once.
    Every task write reads it (`DueWatch.written`): about 3.5 µs."""
    status = STATUS.search(stored)
    if status is None:
        return -math.inf
    if status.group(1) not in OPEN or b'"overdue":false' not in stored:
        return math.inf
    moments = MOMENTS.search(stored)
    if moments is None:
        return -math.inf
    created, deadline = moments.groups()
    if share is None or b'"reminded_at":"' in stored:
        return _moment(deadline, deadline, 1.0)
    return _moment(created, deadline, min(share, 1.0))


@functools.lru_cache(maxsize=4096)
def _moment(created: bytes, deadline: bytes, share: float) -> float:
    """`share` of the way from `created` to `deadline`, as the core computes it (the tasks of
    one incident share their moments, so most are parsed once)."""
    start = datetime.fromisoformat(created.decode())
    end = datetime.fromisoformat(deadline.decode())
    return (start + (end - start) * share).timestamp()

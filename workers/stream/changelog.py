"""Table writes made by the worker itself: each value into faust's store, and its changelog
record produced with the batch's outputs, on the changelog partition of the message that caused
it and with faust's own key and value encoding."""

import asyncio
import functools
from collections.abc import Awaitable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from faust.types import TP

from workers.faust_fixes.internals import aiokafka_producer, set_current_event
from workers.stream.outbound import Outbound
from workers.stream.producing import BatchedSend, PartitionBatch


@dataclass(frozen=True)
class TableWrite:
    """One key's new value (None: removed), and the event whose handling wrote it."""

    table: Any
    key: str
    stored: bytes | None
    event: Any


class TableWriter(Protocol):
    def put(self, write: TableWrite, replaced: bool = False) -> bytes | None:
        """Make the write in the table's store (later reads see it). With `replaced`, the
        result is the value it replaced (None: there was none); without, the store is not read
        first (one read less per write on RocksDB) and the result is None."""
        ...

    async def record(self, writes: Sequence[TableWrite]) -> list[Awaitable[Any]]:
        """Send the changelog records of `writes`, in order; the result is their
        acknowledgements."""
        ...


def _written(store: MutableMapping[str, bytes], write: TableWrite, replaced: bool) -> bytes | None:
    """Make `write` in `store`; the value it replaced if asked (a removal always reads it)."""
    if write.stored is not None and not replaced:
        store[write.key] = write.stored
        return None
    previous = store.get(write.key)
    if write.stored is not None:
        store[write.key] = write.stored
    elif previous is not None:
        del store[write.key]
    return previous


class InProcessTables:
    """Writes into plain mappings (tests of the agents without a broker): nothing to await."""

    def put(self, write: TableWrite, replaced: bool = False) -> bytes | None:
        return _written(write.table, write, replaced)

    async def record(self, writes: Sequence[TableWrite]) -> list[Awaitable[Any]]:
        return []


class Changelog:
    """Writes into faust tables without faust's changelog path.

    `table[key] = value` hands the changelog record to faust's `ProducerBuffer`, which sends
    one record at a time, holds the consumer back when it has more than 100, and forgets the
    send (so a state write could not be awaited without a correction of faust). Here the value
    goes into the table's store (`table.data`, what `Table.__setitem__` does after its changelog
    send), and its record is produced like any output: the same key and value bytes faust would
    send (the changelog topic's `prepare_key`/`prepare_value` with the table's serializers), to
    the partition faust would pick (the message's own, `Table.partition_for_key`), in one
    record batch per changelog partition (`producing.BatchedSend`). Once the broker
    acknowledges a batch, the store remembers the offset of its last record
    (`set_persisted_offset`, as faust's `_on_changelog_sent` does per record), so a RocksDB
    store reads only newer records on recovery.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def put(self, write: TableWrite, replaced: bool = False) -> bytes | None:
        set_current_event(write.event)  # a RocksDB store takes its partition file from it
        return _written(write.table.data, write, replaced)

    async def record(self, writes: Sequence[TableWrite]) -> list[Awaitable[Any]]:
        records, stores = [], {}
        for write in writes:
            table, topic = write.table, write.table.changelog_topic
            key, _ = topic.prepare_key(write.key, table.key_serializer)
            value = None
            if write.stored is not None:
                value, _ = topic.prepare_value(write.stored, table.value_serializer)
            name, partition = topic.get_topic_name(), write.event.message.partition
            records.append(Outbound(name, key, value, partition=partition))
            stores[(name, partition)] = table.data
        batches = await BatchedSend(aiokafka_producer(self.app)).send(records)
        for batch in batches:
            done = functools.partial(_persisted, stores[(batch.topic, batch.partition)], batch)
            cast(asyncio.Future[Any], batch.ack).add_done_callback(done)
        return [batch.ack for batch in batches]


def _persisted(store: Any, batch: PartitionBatch, sent: asyncio.Future[Any]) -> None:
    if sent.cancelled() or sent.exception() is not None:
        return
    last = sent.result().offset + batch.records - 1
    store.set_persisted_offset(TP(batch.topic, batch.partition), last)

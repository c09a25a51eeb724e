"""Typed stores: records kept as JSON bytes, read back as models; the app's tables are raw."""

import asyncio
import itertools
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from schemas import RejectionCode, TaskStatus
from schemas.group import GroupProfile
from schemas.rejection import Refused
from schemas.task import TaskKind
from tests.support.builders import T0, group
from workers.core.messages import TaskLine
from workers.core.records import GroupTaskLines
from workers.settings import Settings
from workers.stream.app import TABLES, create_app
from workers.stream.changelog import InProcessTables, TableWrite
from workers.stream.stores import SCAN_SLICE, Store, Writes, sliced


def _make(change: Any, *arguments: Any) -> None:
    """One write (`Writes().put` or `.pop` with its arguments), made at once."""
    writes: Writes = change.__self__
    change(*arguments)
    for write in writes.table_writes(None):
        InProcessTables().put(write)


def test_a_record_is_kept_as_its_json_bytes_and_read_back_equal() -> None:
    table: dict[str, object] = {}
    store = Store(table, GroupProfile)
    profile = group("GRP-STORE-1")
    _make(Writes().put, store, profile.group_id, profile)
    assert isinstance(table[profile.group_id], bytes)
    assert Store(table, GroupProfile).get(profile.group_id) == profile
    assert [key for key, _ in store.items(lambda raw: b"GRP-STORE-1" in raw)] == ["GRP-STORE-1"]
    assert list(store.items(lambda raw: False)) == []
    _make(Writes().pop, store, profile.group_id)
    assert store.get(profile.group_id) is None and table == {}


def test_every_table_stores_and_recovers_raw_bytes(tmp_path: Path) -> None:
    """A table whose changelog is decoded as JSON would hand dicts to its store after a
    recovery (seen in the kill loop: every read after a restart failed)."""
    _, runtime = create_app(Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path))
    for name in TABLES:
        table = runtime.tables[name]
        assert table.value_serializer == "raw", name
        assert table.changelog_topic.value_serializer == "raw", name


def test_a_record_too_large_for_the_changelog_is_refused_before_anything_is_written() -> None:
    table: dict[str, object] = {}
    store = Store(table, GroupTaskLines)
    line = TaskLine(
        task_id=uuid4(),
        recipient="skatteverket",
        kind=TaskKind.SANCTION,
        action="tax-review",
        group_id="GRP-STORE-1",
        status=TaskStatus.DELIVERED,
        deadline=T0,
        overdue=False,
        escalated=False,
        revision=1,
    )
    huge = GroupTaskLines(tasks={str(uuid4()): line for _ in range(5000)})
    writes = Writes()
    writes.put(store, "small", GroupTaskLines(tasks={str(line.task_id): line}))
    with pytest.raises(Refused) as refused:
        writes.put(store, "huge", huge)
    assert refused.value.code is RejectionCode.INTERNAL_ERROR
    assert table == {}, "nothing is written before the outputs were sent"
    for write in writes.table_writes(None):
        InProcessTables().put(write)
    assert list(table) == ["small"]


def test_a_pass_over_the_table_sorts_records_out_and_gives_the_event_loop_back() -> None:
    table = {
        f"GRP-STORE-{n}": group(f"GRP-STORE-{n}").model_dump_json().encode() for n in range(1200)
    }
    table["GRP-EMPTY"] = b""
    store = Store(table, GroupProfile)
    turns: list[int] = []

    async def run() -> list[list[tuple[str, GroupProfile]]]:
        async def other_agent() -> None:
            while True:
                turns.append(1)
                await asyncio.sleep(0)

        running = asyncio.ensure_future(other_agent())
        await asyncio.sleep(0)
        before = len(turns)
        found = await store.sorted_out([lambda raw: b"GRP-STORE-7" in raw, lambda raw: True])
        turns[:] = turns[before:]
        running.cancel()
        return found

    sevens, every = asyncio.run(run())
    assert {key for key, _ in sevens} == {
        key for key in table if key.startswith("GRP-STORE-7") and table[key]
    }
    assert len(every) == 1200, "an empty value is no record"
    assert all(isinstance(record, GroupProfile) for _, record in every)
    assert len(turns) >= 1200 // SCAN_SLICE, "another task ran between the slices"


def test_a_slow_pass_pauses_after_each_slice_of_time_not_only_of_records() -> None:
    """Each record costs the reader 0.5 ms here (a clock that moves on per reading): the pass
    pauses after every 2 ms of reading, long before `SCAN_SLICE` records."""
    table = {f"TASK-{n}": b"{}" for n in range(40)}
    ticks = itertools.count()
    read: list[str] = []
    pauses: list[int] = []

    def clock() -> float:
        return next(ticks) * 0.0005

    async def run() -> None:
        async def other_agent() -> None:
            while True:
                pauses.append(len(read))
                await asyncio.sleep(0)

        running = asyncio.ensure_future(other_agent())
        async for key, _ in sliced(table, clock):
            read.append(key)
        running.cancel()

    asyncio.run(run())
    assert read == list(table)
    resumed_at = sorted(set(pauses) - {0})
    assert resumed_at[:3] == [4, 8, 12], "the loop is given back after every 2 ms of reading"
    assert len(resumed_at) >= 9


def test_a_change_is_written_only_when_its_json_bytes_differ_from_those_stored() -> None:
    table: dict[str, object] = {}
    store = Store(table, GroupProfile)
    profile = group("GRP-STORE-2")
    _make(Writes().put, store, profile.group_id, profile)
    loaded = Store(table, GroupProfile).get(profile.group_id)
    assert loaded is not None and loaded is not profile
    unchanged = Writes()
    unchanged.change(
        store, profile.group_id, loaded, GroupProfile.model_validate(loaded.model_dump())
    )
    unchanged.change(store, profile.group_id, loaded, loaded)
    assert unchanged.pending == []
    renamed = loaded.model_copy(update={"alias": "Renamed"})
    changed = Writes()
    changed.change(store, profile.group_id, loaded, renamed)
    assert [(key, stored) for _, key, stored, _ in changed.pending] == [
        (profile.group_id, renamed.model_dump_json().encode())
    ]
    removed = Writes()
    removed.change(store, profile.group_id, loaded, None)
    removed.change(store, "GRP-NEVER", None, None)
    assert [(key, stored) for _, key, stored, _ in removed.pending] == [(profile.group_id, None)]


class _ReadCounted(dict[str, bytes]):
    """A store that counts the reads a write makes."""

    reads = 0

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        self.reads += 1
        return super().get(key, default)


def test_a_write_reads_the_value_it_replaces_only_when_asked() -> None:
    """Only the tasks table's tally needs the replaced value; other tables save the read."""
    store = _ReadCounted(kept=b"1")
    writer = InProcessTables()
    assert writer.put(TableWrite(store, "kept", b"2", None)) is None
    assert writer.put(TableWrite(store, "new", b"3", None)) is None
    assert store.reads == 0 and store == {"kept": b"2", "new": b"3"}
    assert writer.put(TableWrite(store, "kept", b"4", None), replaced=True) == b"2"
    assert writer.put(TableWrite(store, "absent", b"5", None), replaced=True) is None
    assert writer.put(TableWrite(store, "new", None, None)) == b"3", "a removal reads it"
    assert writer.put(TableWrite(store, "never", None, None)) is None
    assert store == {"kept": b"4", "absent": b"5"}

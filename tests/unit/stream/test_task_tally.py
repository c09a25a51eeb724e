"""The task gauges' counts: moved by each write, counted afresh from the table after a
rebalance, and right when writes land while a recount is under way."""

import asyncio
import json
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from events.partitioning import partition_of
from workers.stream.stores import SCAN_SLICE
from workers.stream.task_tally import TaskTally, TaskTotals, kind_of

PARTITIONS = 4
KEYS = [f"TASK-{n}" for n in range(12)]
RECIPIENTS = ["skatteverket", "kronofogden"]
STATUSES = ["created", "delivered", "completed"]


def _stored(recipient: str, status: str, overdue: bool, escalated: bool) -> bytes:
    task = {"recipient": recipient, "status": status, "overdue": overdue, "escalated": escalated}
    return json.dumps(task, separators=(",", ":")).encode()


def _counted(table: dict[str, bytes], partitions: set[int]) -> TaskTotals:
    """The gauges read from the whole table, as `/metrics` did on every scrape."""
    by_status: Counter[tuple[str, str]] = Counter()
    overdue: Counter[str] = Counter()
    escalated: Counter[str] = Counter()
    for key, stored in table.items():
        kind = kind_of(stored)
        if kind is None or partition_of(key, PARTITIONS) not in partitions:
            continue
        recipient, status, late, raised = kind
        by_status[(recipient, status)] += 1
        overdue[recipient] += late
        escalated[recipient] += raised
    return TaskTotals(by_status, overdue, escalated)


def _same(kept: TaskTotals, counted: TaskTotals) -> bool:
    def nonzero(counts: Counter[str] | Counter[tuple[str, str]]) -> dict[object, int]:
        return {key: count for key, count in counts.items() if count}

    return (
        nonzero(kept.by_status) == nonzero(counted.by_status)
        and nonzero(kept.overdue) == nonzero(counted.overdue)
        and nonzero(kept.escalated) == nonzero(counted.escalated)
    )


def _write(tally: TaskTally, table: dict[str, bytes], key: str, stored: bytes | None) -> None:
    old = table.get(key)
    if stored is None:
        table.pop(key, None)
    else:
        table[key] = stored
    tally.replace(partition_of(key, PARTITIONS), old, stored)


kinds = st.one_of(
    st.none(),
    st.builds(
        _stored,
        st.sampled_from(RECIPIENTS),
        st.sampled_from(STATUSES),
        st.booleans(),
        st.booleans(),
    ),
)
steps = st.lists(
    st.one_of(st.tuples(st.sampled_from(KEYS), kinds), st.just("recovered"), st.just("rebalance")),
    max_size=60,
)


@given(steps=steps, mine=st.sets(st.integers(0, PARTITIONS - 1)))
def test_the_kept_counts_are_those_of_the_table_after_any_writes_recoveries_and_recounts(
    steps: list[tuple[str, bytes | None] | str], mine: set[int]
) -> None:
    table: dict[str, bytes] = {}
    tally = TaskTally(PARTITIONS)
    asyncio.run(tally.recount(table, generation=0))
    generation = 0
    for step in steps:
        if step == "recovered":
            # faust's recovery writes into the store without the worker's write path
            table[KEYS[0]] = _stored("kronofogden", "completed", True, True)
        elif step == "rebalance":
            generation += 1
            asyncio.run(tally.recount(table, generation))
        else:
            key, stored = step
            _write(tally, table, key, stored)
    if "recovered" in steps:
        asyncio.run(tally.recount(table, generation + 1))
    assert _same(tally.totals(mine), _counted(table, mine))


async def test_writes_made_while_a_recount_gives_the_loop_back_still_count() -> None:
    table = {
        f"TASK-{n}": _stored(RECIPIENTS[n % 2], STATUSES[n % 3], n % 5 == 0, False)
        for n in range(3 * SCAN_SLICE)
    }
    tally = TaskTally(PARTITIONS)
    recount = asyncio.ensure_future(tally.recount(table, generation=7))
    written = 0
    while not recount.done():
        await asyncio.sleep(0)
        # a task written before the recount reaches it, one it has counted, and a new one
        for key in (f"TASK-{3 * SCAN_SLICE - 1 - written}", f"TASK-{written}", f"NEW-{written}"):
            _write(tally, table, key, _stored("skatteverket", "completed", False, True))
        written += 1
    assert written >= 2, "the recount gave the loop back between slices"
    every = set(range(PARTITIONS))
    assert _same(tally.totals(every), _counted(table, every))
    assert tally.counted_in == 7


async def test_one_recount_per_generation_however_often_it_is_asked_for() -> None:
    table = {f"TASK-{n}": _stored("skatteverket", "delivered", False, False) for n in range(1200)}
    tally = TaskTally(PARTITIONS)
    first = tally.count(table, 3)
    assert tally.count(table, 3) is first
    await asyncio.gather(tally.counted(table, 3), tally.counted(table, 3))
    assert tally.counted_in == 3 and tally.count(table, 3) is first
    assert sum(tally.totals(range(PARTITIONS)).by_status.values()) == 1200
    table["TASK-NEW"] = _stored("skatteverket", "delivered", False, False)  # recovered
    await tally.counted(table, 4)
    assert sum(tally.totals(range(PARTITIONS)).by_status.values()) == 1201


def test_a_task_written_again_unchanged_moves_nothing() -> None:
    tally = TaskTally(PARTITIONS)
    stored = _stored("skatteverket", "delivered", False, False)
    tally.replace(1, None, stored)
    tally.replace(1, stored, stored)
    assert tally.totals({1}).by_status == Counter({("skatteverket", "delivered"): 1})
    assert tally.totals({0, 2, 3}).by_status == Counter()

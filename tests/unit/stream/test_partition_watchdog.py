"""A stream partition is stalled only when it stays behind the broker without moving: neither
its committed offset nor the last offset an agent handled there."""

from faust.types import TP

from workers.stream.watchdogs.partitions import StreamPartitions
from workers.stream.watchdogs.recovery import RebalanceBudget

COMMANDS = TP("gvi.internal.task-commands", 1)
UPDATES = TP("gvi.task-updates.skatteverket", 1)


def handled(tp: TP, first: int, last: int) -> dict[tuple[str, int], tuple[int, int]]:
    return {(tp.topic, tp.partition): (first, last)}


def test_a_partition_that_is_caught_up_is_never_behind() -> None:
    partitions = StreamPartitions(limit=60)
    runs = handled(COMMANDS, 0, 9)
    assert partitions.behind(0.0, {COMMANDS}, {COMMANDS: 5}, {COMMANDS: 10}, runs) == {}
    assert partitions.behind(500.0, {COMMANDS}, {COMMANDS: 5}, {COMMANDS: 10}, runs) == {}


def test_unhandled_messages_age_from_the_look_that_last_saw_the_partition_move() -> None:
    partitions = StreamPartitions(limit=60)
    runs = handled(COMMANDS, 0, 9)
    assert partitions.behind(100.0, {COMMANDS}, {COMMANDS: 5}, {COMMANDS: 12}, runs) == {
        COMMANDS: 0.0
    }
    assert partitions.behind(170.0, {COMMANDS}, {COMMANDS: 5}, {COMMANDS: 12}, runs) == {
        COMMANDS: 70.0
    }


def test_a_handled_message_resets_the_age() -> None:
    partitions = StreamPartitions(limit=60)
    assert partitions.behind(100.0, {COMMANDS}, {}, {COMMANDS: 12}, handled(COMMANDS, 0, 9)) == {
        COMMANDS: 0.0
    }
    moved = handled(COMMANDS, 0, 10)
    assert partitions.behind(160.0, {COMMANDS}, {}, {COMMANDS: 12}, moved) == {COMMANDS: 0.0}
    assert partitions.behind(170.0, {COMMANDS}, {}, {COMMANDS: 12}, moved) == {COMMANDS: 10.0}


def test_another_partitions_progress_does_not_count() -> None:
    partitions = StreamPartitions(limit=60)
    assert partitions.behind(0.0, {COMMANDS}, {}, {COMMANDS: 12}, {}) == {COMMANDS: 0.0}
    elsewhere = handled(UPDATES, 0, 50)
    assert partitions.behind(90.0, {COMMANDS}, {}, {COMMANDS: 12}, elsewhere) == {COMMANDS: 90.0}


def test_the_committed_offset_counts_as_read_after_a_rebalance() -> None:
    partitions = StreamPartitions(limit=60)
    partitions.restart()
    assert partitions.behind(0.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 40}, {}) == {}
    assert partitions.behind(85.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 40}, {}) == {}
    assert partitions.behind(90.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 41}, {}) == {UPDATES: 5.0}
    assert partitions.behind(150.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 41}, {}) == {UPDATES: 65.0}


def test_a_partition_without_a_known_end_and_revoked_partitions_are_dropped() -> None:
    partitions = StreamPartitions(limit=60)
    runs = handled(UPDATES, 0, 3)
    partitions.behind(0.0, {UPDATES}, {}, {UPDATES: 10}, runs)
    assert partitions.behind(100.0, {COMMANDS}, {}, {}, runs) == {}
    assert set(partitions.progress) == {COMMANDS}


def test_a_stall_that_outlives_forced_rebalances_gives_up() -> None:
    budget = RebalanceBudget(limit=60, attempts=2)
    decisions = [budget.decide(stalled, now) for stalled, now in [(61, 61), (30, 91), (61, 122)]]
    assert decisions == ["rebalance", None, "rebalance"]
    assert budget.decide(61, 183) == "give up"
    assert budget.decide(0.0, 200) is None and budget.forced == 0

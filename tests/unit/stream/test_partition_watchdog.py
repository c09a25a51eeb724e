"""A stream partition is stalled only when it stays behind the broker without any delivery."""

from faust.types import TP

from workers.stream.watchdogs.partitions import StreamPartitions
from workers.stream.watchdogs.recovery import RebalanceBudget

COMMANDS = TP("gvi.internal.task-commands", 1)
UPDATES = TP("gvi.task-updates.skatteverket", 1)


def test_a_partition_that_is_caught_up_is_never_behind() -> None:
    partitions = StreamPartitions(limit=60)
    partitions.delivered(COMMANDS, 9, now=0.0)
    assert partitions.behind(500.0, {COMMANDS}, {COMMANDS: 5}, {COMMANDS: 10}) == {}


def test_unread_messages_age_from_the_last_delivery() -> None:
    partitions = StreamPartitions(limit=60)
    partitions.delivered(COMMANDS, 9, now=100.0)
    assert partitions.behind(170.0, {COMMANDS}, {COMMANDS: 5}, {COMMANDS: 12}) == {COMMANDS: 70.0}


def test_a_delivery_resets_the_age() -> None:
    partitions = StreamPartitions(limit=60)
    partitions.delivered(COMMANDS, 9, now=100.0)
    partitions.delivered(COMMANDS, 10, now=160.0)
    assert partitions.behind(170.0, {COMMANDS}, {}, {COMMANDS: 12}) == {COMMANDS: 10.0}


def test_the_committed_offset_counts_as_read_after_a_rebalance() -> None:
    partitions = StreamPartitions(limit=60)
    partitions.restart()
    assert partitions.behind(0.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 40}) == {}
    assert partitions.behind(85.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 40}) == {}
    assert partitions.behind(90.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 41}) == {UPDATES: 5.0}
    assert partitions.behind(150.0, {UPDATES}, {UPDATES: 40}, {UPDATES: 41}) == {UPDATES: 65.0}


def test_a_partition_without_a_known_end_and_revoked_partitions_are_dropped() -> None:
    partitions = StreamPartitions(limit=60)
    partitions.delivered(UPDATES, 3, now=0.0)
    assert partitions.behind(100.0, {COMMANDS}, {}, {}) == {}
    assert set(partitions.progress) == {COMMANDS}


def test_a_stall_that_outlives_forced_rebalances_gives_up() -> None:
    budget = RebalanceBudget(limit=60, attempts=2)
    decisions = [budget.decide(stalled, now) for stalled, now in [(61, 61), (30, 91), (61, 122)]]
    assert decisions == ["rebalance", None, "rebalance"]
    assert budget.decide(61, 183) == "give up"
    assert budget.decide(0.0, 200) is None and budget.forced == 0

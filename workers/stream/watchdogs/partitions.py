"""Partition watchdog: an assigned stream partition left unread forces a rebalance."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

import structlog
from faust.types import TP

from workers.faust_fixes.internals import buffered_partitions, committed_offsets, force_rebalance
from workers.stream.exits import crash_within
from workers.stream.watchdogs.diagnostics import evidence, fetch_state, run_every
from workers.stream.watchdogs.recovery import RebalanceBudget
from workers.stream.watchdogs.stuck_events import BatchesInFlight

log = structlog.get_logger("gvi.partitions")


class PartitionsStalled(RuntimeError):
    """Assigned partitions stayed unread through several forced rebalances."""


@dataclass
class PartitionProgress:
    """How far this worker had read one partition at the last look, and when that last moved."""

    moved_at: float
    read_to: int = -1


Runs = Mapping[tuple[str, int], tuple[int, int]]
"""Per partition, the run of offsets the agents have handled (`runtime.HandledRuns.runs`)."""


@dataclass
class StreamPartitions:
    """Which assigned stream partitions have messages that nobody has handled for `limit`
    seconds.

    A partition is behind when the broker's end offset is past both the committed offset and
    the last offset an agent handled; it stalls when it stays behind, without moving, for
    `limit` seconds. The batch runner's handled runs say how far the agents got, looked at
    once per check: no work per message.
    """

    limit: float
    progress: dict[TP, PartitionProgress] = field(default_factory=dict)
    generation: int = -1

    def restart(self, generation: int = -1) -> None:
        """Forget all progress, e.g. after a rebalance: every partition starts over."""
        self.progress.clear()
        self.generation = generation

    def behind(
        self,
        now: float,
        assigned: set[TP],
        committed: Mapping[TP, int | None],
        ends: Mapping[TP, int],
        handled: Runs,
    ) -> dict[TP, float]:
        """Each partition that is behind, with the seconds since it last moved."""
        for tp in set(self.progress) - assigned:
            del self.progress[tp]
        behind: dict[TP, float] = {}
        for tp in assigned:
            known = self.progress.setdefault(tp, PartitionProgress(moved_at=now))
            run = handled.get((tp.topic, tp.partition))
            read_to = max(committed.get(tp) or 0, run[1] + 1 if run is not None else 0)
            if read_to != known.read_to:
                known.moved_at, known.read_to = now, read_to
            end = ends.get(tp)
            if end is None or end <= read_to:
                known.moved_at = now
            else:
                behind[tp] = now - known.moved_at
        return behind


def register(app: Any, limit: float, in_flight: BatchesInFlight, handled: Runs) -> StreamPartitions:
    """Check the assigned stream partitions every few seconds; force a rebalance on a stall."""
    partitions = StreamPartitions(limit=limit)
    budget = RebalanceBudget(limit=limit)
    interval = max(2.0, min(10.0, limit / 3))
    run_every(
        app, interval, lambda: _check(app, partitions, budget, in_flight, handled), "partitions"
    )
    return partitions


async def _check(
    app: Any,
    partitions: StreamPartitions,
    budget: RebalanceBudget,
    in_flight: BatchesInFlight,
    handled: Runs,
) -> None:
    now = monotonic()
    consumer = app.consumer
    busy = app.rebalancing or app.tables.recovery.in_recovery or not consumer.flow_active
    if busy or app.consumer_generation_id != partitions.generation:
        partitions.restart(app.consumer_generation_id)
        return
    if any(now - batch.since >= 5.0 for batch in in_flight.in_flight.values()):
        return  # an agent is busy or stuck on one batch: a rebalance would not help (stuck_events)
    changelogs = app.tables.changelog_topics
    buffered = buffered_partitions(consumer)
    assigned = {
        TP(tp.topic, tp.partition)
        for tp in consumer.assignment()
        if tp.topic not in changelogs and tp not in buffered
    }
    if not assigned:
        return
    ends_raw = await asyncio.wait_for(consumer.highwaters(*assigned), timeout=30)
    ends = {TP(tp.topic, tp.partition): int(end) for tp, end in ends_raw.items()}
    behind = partitions.behind(now, assigned, committed_offsets(consumer), ends, handled)
    action = budget.decide(max(behind.values(), default=0.0), now)
    if action is None:
        return
    stalled = {tp: seconds for tp, seconds in behind.items() if seconds >= partitions.limit}
    log.error(
        "stream partitions stalled",
        action=action,
        partitions={f"{tp.topic}/{tp.partition}": round(s, 1) for tp, s in stalled.items()},
        forced_rebalances=budget.forced,
        fetch=fetch_state(app, stalled),
        **evidence(app),
    )
    if action == "rebalance":
        force_rebalance(app)
    else:
        stall = PartitionsStalled(f"unread through {budget.forced} rebalances: {stalled}")
        await crash_within(app, stall)

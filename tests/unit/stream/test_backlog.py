"""Later stages first: a stage's lag on the broker, and an earlier stage waiting for it."""

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

from workers.stream.backlog import PIPELINE, Backlogs, HeldPartitions, lag_of
from workers.stream.batches import forget_lags_when_revoked, stage_lag
from workers.stream.runtime import HandledRuns

HIGHWATERS = {("tasks", 0): 120, ("tasks", 1): 40, ("updates", 0): 9, ("incidents", 0): 500}


def test_lag_counts_the_stage_topics_partitions_held_here_after_the_last_handled() -> None:
    assigned = [("tasks", 0), ("tasks", 1), ("updates", 0), ("incidents", 0)]
    handled = {("tasks", 0): (0, 99), ("tasks", 1): (10, 39), ("updates", 0): (0, 4)}
    lag = lag_of(("tasks", "updates"), assigned, handled, HIGHWATERS.get)
    assert lag == (120 - 100) + 0 + (9 - 5)


def test_partitions_not_held_unknown_or_never_handled_nor_written_count_nothing() -> None:
    handled = {("tasks", 0): (0, 99), ("tasks", 1): (0, 10), ("updates", 0): (0, 2)}
    assert lag_of(("tasks",), [("tasks", 1)], handled, lambda partition: None) == 0
    assert lag_of(("tasks",), [("tasks", 0)], {}, HIGHWATERS.get) == 0
    written_from = {("tasks", 0): 30}.get  # this worker wrote there from offset 30
    assert lag_of(("tasks",), [("tasks", 0)], {}, HIGHWATERS.get, (), written_from) == 120 - 30
    assert lag_of(("tasks",), [("tasks", 0)], handled, HIGHWATERS.get, (), written_from) == 20
    assert lag_of(("tasks",), [("incidents", 0)], handled, HIGHWATERS.get) == 0
    ahead = {("tasks", 0): (0, 130)}  # handled past a highwater read earlier
    assert lag_of(("tasks",), [("tasks", 0)], ahead, HIGHWATERS.get) == 0


def backlogs(lags: dict[str, int], limit: int = 100, most_seconds: float = 1.0) -> Backlogs:
    found = Backlogs(limit, most_seconds)
    for stage in (*PIPELINE, "gateway-events"):
        found.register(stage, lambda stage=stage: lags.get(stage, 0))  # type: ignore[misc]
    return found


def test_only_a_later_stage_over_the_limit_holds_a_stage_back() -> None:
    lags = {"incident-intake": 5000, "task-state": 300, "completion": 700}
    found = backlogs(lags)
    assert found.busiest_later("incident-intake") == ("completion", 700)
    assert found.busiest_later("group-planning") == ("completion", 700)
    assert found.busiest_later("completion") is None
    assert found.busiest_later("gateway-events") is None
    lags.update(completion=100, **{"task-state": 101})
    assert found.busiest_later("group-planning", fresh=True) == ("task-state", 101)
    assert backlogs(lags, limit=0).busiest_later("group-planning") is None


def test_a_stage_waits_until_the_later_stage_caught_up() -> None:
    async def scenario() -> tuple[float, float]:
        lags = {"task-state": 800}
        found = backlogs(lags)

        async def task_agent() -> float:
            for _ in range(4):
                await asyncio.sleep(0.02)
                lags["task-state"] -= 200
                found.batch_done()
            return time.monotonic()

        caught_up = asyncio.create_task(task_agent())
        waited = await found.later_stages_first("group-planning")
        resumed = time.monotonic()
        return waited, resumed - await caught_up

    waited, after_catch_up = asyncio.run(scenario())
    assert 0.05 < waited < 0.9
    assert after_catch_up >= -0.001  # not before the lag fell to the limit


def test_a_waiting_stage_looks_again_after_every_batch_not_only_when_its_look_expires() -> None:
    async def scenario() -> bool:
        lags = {"task-state": 800}
        found = backlogs(lags)
        waiting = asyncio.create_task(found.later_stages_first("group-planning"))
        await asyncio.sleep(0)  # it looked, and waits for a batch
        lags["task-state"] = 0
        found.batch_done()
        for _ in range(3):
            await asyncio.sleep(0)
        done = waiting.done()
        await waiting
        return done

    assert asyncio.run(scenario())


def test_a_stalled_later_stage_slows_an_earlier_one_but_never_stops_it() -> None:
    found = backlogs({"completion": 10_000}, most_seconds=0.1)
    waited = asyncio.run(found.later_stages_first("incident-intake"))
    assert 0.1 <= waited < 0.5
    assert asyncio.run(backlogs({}).later_stages_first("incident-intake")) == 0.0


def test_a_stage_lag_counts_what_this_worker_wrote_before_its_consumer_fetched_it() -> None:
    class Consumer:
        def assignment(self) -> set[tuple[str, int]]:
            return {("commands", 0), ("commands", 1), ("commands", 2), ("commands", 3)}

        def highwater(self, partition: tuple[str, int]) -> int | None:
            if partition == ("commands", 2):
                raise AssertionError("Partition is not assigned")  # revoked in between
            return {("commands", 0): 50}.get(partition)

    consumer = Consumer()
    runtime = SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        held_partitions=HeldPartitions(consumer.assignment),
        written_ends={
            ("commands", 0): 400,
            ("commands", 1): 30,
            ("commands", 2): 90,
            ("commands", 3): 60,
        },
        # nothing handled on partition 3 yet: behind from the first message written there
        written_starts={("commands", 0): 0, ("commands", 1): 0, ("commands", 3): 20},
        handled=HandledRuns(runs={("commands", 0): (0, 49), ("commands", 1): (0, 9)}),
    )
    stream = SimpleNamespace(channel=SimpleNamespace(topics=("commands",)))
    lag = stage_lag(cast(Any, runtime), stream)
    assert lag() == (400 - 50) + (30 - 10) + (60 - 20)
    runtime.written_ends.clear()
    assert lag() == 0
    assert stage_lag(cast(Any, SimpleNamespace(app=None)), stream)() == 0


def test_the_partitions_held_are_read_once_until_a_rebalance_or_a_second_passes() -> None:
    assignment = {("tasks", 0), ("tasks", 1), ("updates", 0), ("incidents", 2)}
    reads: list[int] = []

    def read() -> set[tuple[str, int]]:
        reads.append(1)
        return set(assignment)

    held = HeldPartitions(read, max_age=60.0)
    assert sorted(held.of(("tasks", "updates"))) == [("tasks", 0), ("tasks", 1), ("updates", 0)]
    assignment.discard(("tasks", 1))
    assert sorted(held.of(("tasks",))) == [("tasks", 0), ("tasks", 1)]
    assert held.of(("completion",)) == [] and len(reads) == 1
    held.forget()
    assert held.of(("tasks",)) == [("tasks", 0)] and len(reads) == 2
    aging = HeldPartitions(read, max_age=0.0)
    aging.of(("tasks",))
    time.sleep(0.01)
    aging.of(("tasks",))
    assert len(reads) == 4


def test_a_partition_given_back_idle_after_another_worker_moved_it_on_is_not_behind() -> None:
    handled = HandledRuns(runs={("tasks", 0): (0, 99), ("tasks", 1): (0, 39)})
    moved_on = {("tasks", 0): 5000, ("tasks", 1): 40}  # another worker handled 100..4999
    held = [("tasks", 0), ("tasks", 1)]
    assert lag_of(("tasks",), held, handled.runs, moved_on.get, handled.revoked) == 4900
    handled.partitions_revoked(held)
    assert lag_of(("tasks",), held, handled.runs, moved_on.get, handled.revoked) == 0
    handled.mark("tasks", 0, 5000)  # handled here again: its run counts once more
    moved_on[("tasks", 0)] = 7000
    assert lag_of(("tasks",), held, handled.runs, moved_on.get, handled.revoked) == 1999
    assert handled.already_handled("tasks", 1, 39)  # a replay after the seek is still skipped


async def test_a_revocation_forgets_its_runs_and_where_this_worker_began_writing() -> None:
    class Signal:
        def connect(self, receiver: Any) -> Any:
            self.receiver = receiver
            return receiver

    app = SimpleNamespace(on_partitions_revoked=Signal(), on_partitions_assigned=Signal())
    reads: list[int] = []
    runtime = SimpleNamespace(
        handled=HandledRuns(runs={("tasks", 0): (0, 9)}),
        written_starts={("tasks", 0): 5, ("tasks", 3): 17},  # 3: written while another held it
        held_partitions=HeldPartitions(lambda: reads.append(1) or [("tasks", 0)], max_age=60.0),
    )
    runtime.held_partitions.of(("tasks",))
    forget_lags_when_revoked(app, cast(Any, runtime))
    await app.on_partitions_revoked.receiver(
        app, revoked=[SimpleNamespace(topic="tasks", partition=0)]
    )
    assert runtime.handled.revoked == {("tasks", 0)}
    assert runtime.written_starts == {}
    runtime.held_partitions.of(("tasks",))
    await app.on_partitions_assigned.receiver(app, assigned=[])
    runtime.held_partitions.of(("tasks",))
    assert len(reads) == 3, "read again after the revocation and after the assignment"

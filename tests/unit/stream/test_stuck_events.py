"""A batch that an agent holds too long is reported once; finished batches are forgotten; the
batch runner tells the watch which batches it holds."""

import asyncio
from time import monotonic
from typing import Any

from tests.support.fakes import FakeStream, event_on, in_process_runtime
from workers.policies import load_policy
from workers.stream.batches import BatchLimits, run_batches
from workers.stream.watchdogs.stuck_events import BatchesInFlight

TOPIC = "gvi.internal.task-commands"
POLICY = load_policy()


def _event(offset: int) -> Any:
    return event_on(TOPIC, f"TASK-{offset}", b"{}", partition=0, offset=offset)


def test_reports_a_held_batch_once_and_forgets_it_when_done() -> None:
    batches = BatchesInFlight()
    held = batches.started("task-state", _event(7))
    quick = batches.started("task-state", _event(8))
    batches.finished(quick)
    later = monotonic() + 61

    stuck = batches.newly_stuck(later, limit=60)

    assert [(b.agent, b.topic, b.partition, b.offset) for b in stuck] == [
        ("task-state", TOPIC, 0, 7)
    ]
    assert batches.newly_stuck(later + 60, limit=60) == []
    batches.finished(held)
    assert batches.in_flight == {} and batches.reported == set()


def test_a_batch_under_the_limit_is_not_stuck() -> None:
    batches = BatchesInFlight()
    batches.started("task-state", _event(1))
    assert batches.newly_stuck(monotonic() + 59, limit=60) == []


def test_the_oldest_held_batch_is_the_one_to_judge() -> None:
    batches = BatchesInFlight()
    first = batches.started("planning", _event(3))
    second = batches.started("completion", _event(4))
    oldest = batches.oldest()
    assert oldest is not None and oldest.offset == 3
    batches.finished(first)
    assert batches.oldest() is not None and batches.oldest().offset == 4  # type: ignore[union-attr]
    batches.finished(second)
    assert batches.oldest() is None


def test_the_runner_holds_a_batch_from_its_first_message_to_its_acknowledgement() -> None:
    async def run() -> tuple[list[Any], dict[int, Any]]:
        runtime = in_process_runtime(POLICY)
        events = [_event(n) for n in (20, 21, 22)]
        seen: list[Any] = []

        async def handle(event: Any) -> None:
            seen.extend(runtime.batches_in_flight.in_flight.values())

        async with asyncio.timeout(5):
            await run_batches(runtime, FakeStream(events), handle, BatchLimits(2, 1.0), "tasks")
        return seen, runtime.batches_in_flight.in_flight

    seen, left = asyncio.run(run())
    assert [(b.agent, b.offset) for b in seen] == [("tasks", 20), ("tasks", 20), ("tasks", 22)]
    assert left == {}

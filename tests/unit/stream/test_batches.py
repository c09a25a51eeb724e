"""The batch runner against the messages handled one by one: the same outputs and the same final
state for any cut into batches, also when a batch is replayed from the state before it (a crash
after its outputs, before its state); and its ordering and conflict rules."""

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator, Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

from aiokafka.errors import KafkaTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from events.codec import encode
from schemas.incident import IncidentRetracted
from tests.support.builders import T0, attribution, correction, group, incident
from tests.support.fakes import (
    Acks,
    FakeStream,
    ListedEvents,
    event_on,
    in_process_runtime,
    sent_on,
)
from workers.policies import load_policy
from workers.stream.agents import completion, intake, planning, tasks
from workers.stream.backlog import Backlogs
from workers.stream.batches import BatchLimits, Queued, fill, flush, run_batches
from workers.stream.boundary import guarded
from workers.stream.changelog import InProcessTables, TableWrite
from workers.stream.pending import PENDING
from workers.stream.runtime import Runtime

POLICY = load_policy()
NOW = T0 + timedelta(hours=1)
CLOCKS = ("runtime", "agents.intake", "agents.planning", "agents.tasks", "agents.completion")
STAGES = ("groups", "incidents", "group_work", "task_commands", "task_events")
"""Each stage's input topic (catalogue attribute), in the incident's order."""


@contextlib.contextmanager
def frozen_clock() -> Iterator[None]:
    """Every agent's clock at NOW, so that a message handled twice gives the same output."""
    with contextlib.ExitStack() as stack:
        for module in CLOCKS:
            stack.enter_context(mock.patch(f"workers.stream.{module}.utc_now", return_value=NOW))
        yield


def outside_messages() -> dict[str, list[tuple[str, bytes]]]:
    """Two groups, incidents that are corrected (moved to the other group), duplicated,
    retracted, and one that cannot be read: keys repeat, so batches must be cut."""
    profiles = [group("GRP-TEST-A"), group("GRP-TEST-B")]
    one = incident()
    two = incident(incident_id="INC-TEST-2", attributions=(attribution("GRP-TEST-B"),))
    moved = correction(attributions=(attribution("GRP-TEST-B"),))
    three = incident(incident_id="INC-TEST-3")
    retracted = IncidentRetracted(
        incident_id="INC-TEST-2",
        version=2,
        retracted_at=T0 + timedelta(minutes=40),
        reason="invented: wrong group",
        source_system="test-feed",
    )
    reports = [one, two, moved, one, three, retracted, moved]
    return {
        "groups": [(p.group_id, encode(p)) for p in profiles],
        "incidents": [(i.incident_id, encode(i)) for i in reports]
        + [("INC-TEST-9", b'{"incident_id": "INC-TEST-9"')],
    }


class Stages:
    """One in-process worker's stage handlers, fed stage by stage."""

    def __init__(self, journal: list[tuple[str, str]] | None = None) -> None:
        self.runtime: Runtime = in_process_runtime(POLICY, journal)
        self.handlers: dict[str, Any] = {}
        for agent in (intake, planning, tasks, completion):
            context = agent.context(self.runtime)
            for topic, handler in agent.handlers(self.runtime.catalogue).items():
                self.handlers[topic] = (handler, context)

    def topic(self, stage: str) -> str:
        return str(getattr(self.runtime.catalogue, stage).name)

    def inputs(self, stage: str, outside: dict[str, list[tuple[str, bytes]]]) -> list[Any]:
        name = self.topic(stage)
        sent = [(k.decode(), v) for k, v in sent_on(self.runtime, name)]
        # A replayed batch sends its outputs again; the next stage gets each message once, as
        # in the run one by one, so that a difference can only come from the batching.
        found = outside.get(stage) or list(dict.fromkeys(sent))
        return [
            event_on(name, key, value, offset=offset) for offset, (key, value) in enumerate(found)
        ]

    async def handle(self, event: Any) -> None:
        handler, context = self.handlers[event.message.topic]

        async def one(event: Any) -> None:
            await handler(context, event)

        await guarded(self.runtime, event, one)

    def outputs(self) -> set[tuple[str, bytes, bytes]]:
        return {
            (name, key, value)
            for name, topic in self.runtime.topics.items()
            for key, value in topic.sent
        }

    def state(self) -> dict[str, dict[str, bytes]]:
        return {name: dict(table) for name, table in self.runtime.tables.items()}


async def one_by_one() -> Stages:
    stages, outside = Stages(), outside_messages()
    for stage in STAGES:
        for event in stages.inputs(stage, outside):
            await stages.handle(event)
    return stages


async def in_batches(cuts: list[int], crash: int | None) -> tuple[Stages, int]:
    """Every stage's messages in batches of the sizes in `cuts` (repeated); the batch numbered
    `crash` (counted over all stages) sends its outputs and is then replayed from the state
    before it. Returns the stages and the number of batches."""
    stages, outside, acks, count = Stages(), outside_messages(), Acks(), 0
    for stage in STAGES:
        events = stages.inputs(stage, outside)
        queue, carried = ListedEvents(events[1:]), events[0] if events else None
        while carried is not None:
            limits = BatchLimits(cuts[count % len(cuts)], 60.0)
            first = carried
            batch, carried = await fill(first, queue, stages.handle, limits)
            if count == crash:
                await stages.runtime.flush_outputs(batch)
                queue.events[:0] = [*batch.events[1:], *([carried] if carried else [])]
                carried = batch.events[0]
                crash = None
                continue
            await flush(stages.runtime, acks, batch, stages.handle)
            if carried is None and queue.events:
                carried = queue.events.pop(0)
            count += 1
    return stages, count


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=5),
    crash=st.none() | st.integers(min_value=0, max_value=30),
)
def test_batches_cut_anywhere_and_replayed_give_the_outputs_and_state_of_one_by_one(
    cuts: list[int], crash: int | None
) -> None:
    async def compare() -> None:
        with frozen_clock():
            reference = await one_by_one()
            batched, _ = await in_batches(cuts, crash)
        assert batched.outputs() == reference.outputs()
        assert batched.state() == reference.state()

    asyncio.run(compare())


def test_the_scenario_needs_cuts_and_gives_work_to_every_stage() -> None:
    async def run() -> tuple[Stages, int, Stages]:
        with frozen_clock():
            return *(await in_batches([64], None)), await one_by_one()

    batched, count, reference = asyncio.run(run())
    assert count > len(STAGES), "a repeated key cut at least one stage's batch"
    for stage in STAGES[2:]:
        assert sent_on(reference.runtime, reference.topic(stage)), stage
    catalogue = reference.runtime.catalogue
    assert sent_on(reference.runtime, catalogue.rejected.name), "the unreadable one answered"
    assert batched.outputs() == reference.outputs()


def test_a_batch_sends_every_output_before_it_writes_any_state() -> None:
    async def run() -> list[tuple[str, str]]:
        with frozen_clock():
            journal: list[tuple[str, str]] = []
            stages, outside = Stages(journal), outside_messages()
            for event in stages.inputs("groups", outside):
                await stages.handle(event)
            events = stages.inputs("incidents", outside)
            start = len(journal)
            queue = ListedEvents(events[1:])
            batch, _ = await fill(events[0], queue, stages.handle, BatchLimits(64, 60.0))
            assert len(batch.events) == 2, "the third incident repeats the first one's key"
            assert journal[start:] == [], "nothing is sent or written while a batch fills"
            await flush(stages.runtime, Acks(), batch, stages.handle)
            return journal[start:]

    kinds = [kind for kind, _ in asyncio.run(run())]
    assert kinds.count("send") >= 2 and kinds.count("write") >= 2
    assert "send" not in kinds[kinds.index("write") :], kinds


def test_events_taken_before_a_rebalance_are_skipped_and_acknowledged() -> None:
    async def run() -> tuple[list[Any], list[Any], list[Any]]:
        events = [
            event_on("gvi.incidents", f"INC-TEST-{n}", b"{}", generation_id=generation)
            for n, generation in enumerate((1, 2, 2))
        ]
        app = SimpleNamespace(
            consumer_generation_id=2, flow_control=SimpleNamespace(is_active=lambda: True)
        )
        stream = FakeStream(events)
        queued = Queued(stream, 8, app)
        taken = [await queued.next(1.0), await queued.next(1.0)]
        queued.stop()
        return events, taken, stream.acked

    events, taken, acked = asyncio.run(run())
    assert taken == events[1:], "the event of the earlier generation is not handled"
    assert acked == events[:1]


def test_events_of_an_earlier_generation_already_queued_are_skipped_too() -> None:
    async def run() -> tuple[list[Any], list[Any], list[Any]]:
        events = [
            event_on("gvi.incidents", f"INC-TEST-{n}", b"{}", generation_id=generation)
            for n, generation in enumerate((1, 1, 2, 2))
        ]
        app = SimpleNamespace(
            consumer_generation_id=2, flow_control=SimpleNamespace(is_active=lambda: True)
        )
        stream = FakeStream(events)
        queued = Queued(stream, 8, app)
        await asyncio.sleep(0.05)  # all four and the stream's end wait before the first is taken
        assert queued.queue.qsize() == 5
        taken = [await queued.next(1.0), await queued.next(1.0), await queued.next(1.0)]
        assert queued.ended
        queued.stop()
        return events, taken, stream.acked

    events, taken, acked = asyncio.run(run())
    assert taken == [*events[2:], None], "then the stream ended"
    assert acked == events[:2]


def test_events_taken_before_a_stop_are_handled_while_the_flow_is_paused() -> None:
    """A stop pauses the flow and then waits for the events already taken; acknowledging them
    unhandled would let the stop's commit pass a message that nobody handled (it was lost
    when a worker stopped while incidents arrived)."""

    async def run() -> tuple[list[Any], list[Any], list[Any]]:
        events = [event_on("gvi.incidents", f"INC-TEST-{n}", b"{}") for n in range(3)]
        app = SimpleNamespace(
            consumer_generation_id=None,
            flow_control=SimpleNamespace(is_active=lambda: False),
        )
        stream = FakeStream(events)
        queued = Queued(stream, 8, app)
        taken = [await queued.next(1.0) for _ in events]
        queued.stop()
        return events, taken, stream.acked

    events, taken, acked = asyncio.run(run())
    assert taken == events
    assert acked == [], "nothing is acknowledged before it is handled"


def test_when_the_stream_ends_its_last_batch_is_flushed_and_the_agent_returns() -> None:
    async def run() -> tuple[list[Any], list[Any]]:
        events = [event_on("gvi.incidents", f"INC-TEST-{n}", b"{}") for n in range(3)]
        stream, handled = FakeStream(events), []

        async def handle(event: Any) -> None:
            handled.append(event)

        runtime = in_process_runtime(POLICY)
        async with asyncio.timeout(5):
            await run_batches(runtime, stream, handle, BatchLimits(2, 1.0), "incident-intake")
        return handled, stream.acked

    handled, acked = asyncio.run(run())
    assert len(handled) == 3
    assert acked == handled, "every event acknowledged once its batch was flushed"


def test_a_message_delivered_again_within_its_batch_is_answered_once() -> None:
    async def run() -> list[tuple[bytes, bytes]]:
        with frozen_clock():
            stages = Stages()
            incidents = stages.topic("incidents")
            unreadable = event_on(incidents, "INC-TEST-9", b'{"incident_id": "INC-TEST-9"')
            again = ListedEvents([unreadable])
            batch, _ = await fill(unreadable, again, stages.handle, BatchLimits(8, 60.0))
            assert len(batch.events) == 2, "delivered again after a seek, in the same batch"
            await flush(stages.runtime, Acks(), batch, stages.handle)
            return sent_on(stages.runtime, stages.runtime.catalogue.rejected.name)

    assert len(asyncio.run(run())) == 1


class HeldChangelog(InProcessTables):
    """Changelog records that the broker acknowledges when the test says so."""

    def __init__(self) -> None:
        self.sends: list[asyncio.Future[None]] = []

    async def record(self, writes: Sequence[TableWrite]) -> list[Awaitable[Any]]:
        held = [asyncio.get_running_loop().create_future() for _ in writes]
        self.sends += held
        return list(held)


def test_a_batch_is_acknowledged_only_once_its_changelog_records_are() -> None:
    """Each event is acknowledged once its effects are durable, so that a commit needs no wait
    of its own: here the state's changelog records are held, and no event is acknowledged."""

    async def run() -> tuple[int, int, int]:
        with frozen_clock():
            stages, outside = Stages(), outside_messages()
            for event in stages.inputs("groups", outside):
                await stages.handle(event)
            stages.runtime.table_writer = changelog = HeldChangelog()
            events = stages.inputs("incidents", outside)
            batch, _ = await fill(events[0], ListedEvents([]), stages.handle, BatchLimits(8, 60))
            acks = Acks()
            flushing = asyncio.ensure_future(flush(stages.runtime, acks, batch, stages.handle))
            await asyncio.sleep(0.05)
            held, acked_while_held = len(changelog.sends), len(acks.acked)
            for sent in changelog.sends:
                sent.set_result(None)
            await flushing
            return held, acked_while_held, len(acks.acked)

    held, acked_while_held, acked = asyncio.run(run())
    assert held >= 1, "the incident's state has a changelog record"
    assert acked_while_held == 0
    assert acked == 1


class RefusingChangelog(InProcessTables):
    """A producer that does not take the changelog records (its buffer stays full)."""

    async def record(self, writes: Sequence[TableWrite]) -> list[Awaitable[Any]]:
        raise KafkaTimeoutError("invented: the producer's buffer stayed full")


def test_a_changelog_record_the_producer_does_not_take_crashes_the_worker_unacknowledged(
    monkeypatch: Any,
) -> None:
    """The batch's values are in the stores already: handling its messages again (as after a
    failure of its outputs) would find nothing to change and never write the changelog."""
    crashed: list[BaseException] = []

    async def crash(app: Any, error: BaseException) -> None:
        crashed.append(error)

    monkeypatch.setattr("workers.stream.runtime.crash_within", crash)

    async def run() -> tuple[int, int, int]:
        with frozen_clock():
            stages, outside = Stages(), outside_messages()
            for event in stages.inputs("groups", outside):
                await stages.handle(event)
            stages.runtime.table_writer = RefusingChangelog()
            handled = 0

            async def counting(event: Any) -> None:
                nonlocal handled
                handled += 1
                await stages.handle(event)

            events = stages.inputs("incidents", outside)
            batch, _ = await fill(events[0], ListedEvents([]), counting, BatchLimits(8, 60))
            acks = Acks()
            flushing = asyncio.ensure_future(flush(stages.runtime, acks, batch, counting))
            await asyncio.sleep(0.05)
            flushing.cancel()
            return handled, len(acks.acked), len(crashed)

    handled, acked, crashes = asyncio.run(run())
    assert crashes == 1 and isinstance(crashed[0], KafkaTimeoutError)
    assert handled == 1, "the message was not handled again"
    assert acked == 0


def test_a_batch_that_begins_with_a_carried_event_also_waits_for_a_lagging_later_stage() -> None:
    """A batch cut because its next message writes a key the batch wrote (planning: a group's
    next incident) hands that message to the next batch; the backlog rule still holds before
    that batch, or planning outran the task agent by thousands of commands."""

    async def run() -> tuple[int, int, int]:
        events = [event_on("gvi.group-work", "GRP-TEST-A", b"{}", offset=n) for n in range(4)]
        stream, handled = FakeStream(events), []
        runtime = in_process_runtime(POLICY)
        table = runtime.tables["group-plans"]

        async def handle(event: Any) -> None:
            batch = PENDING.get()
            assert batch is not None
            batch.state.write(table, "GRP-TEST-A", b"{}")
            handled.append(event)

        backlogs = runtime.backlogs = Backlogs(limit=1, most_seconds=0.01)
        backlogs.register("task-state", lambda: 5)
        waits = 0
        real = backlogs.later_stages_first

        async def counted(agent: str) -> float:
            nonlocal waits
            waits += 1
            return await real(agent)

        backlogs.later_stages_first = counted  # type: ignore[method-assign]
        async with asyncio.timeout(5):
            await run_batches(runtime, stream, handle, BatchLimits(32, 1.0), "group-planning")
        return len(handled), len(stream.acked), waits

    handled, acked, waits = asyncio.run(run())
    assert handled == acked == 4, "one event per batch: each writes the key the one before wrote"
    assert waits >= 4, f"{waits} looks at the later stages for 4 batches"

"""The batch runner of an agent: it handles the messages already queued for it one at a time,
then sends all their outputs together, then writes their state, then acknowledges them."""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from faust.types import EventT, StreamT

from workers.faust_fixes.internals import set_current_event
from workers.stream.backlog import lag_of
from workers.stream.pending import DONE, PENDING, PendingBatch, WriteConflict
from workers.stream.runtime import Runtime

log = structlog.get_logger("gvi.batches")
Guarded = Callable[[EventT[Any]], Awaitable[None]]
"""One message handled inside the error boundary (`boundary.guarded`)."""


@dataclass(frozen=True)
class BatchLimits:
    """A batch ends at `messages` messages, after `seconds` of handling, or when nothing more
    is queued."""

    messages: int
    seconds: float


class EventSource(Protocol):
    """Where a batch takes its events from: `Queued`, or a list in tests and benchmarks."""

    def waiting(self) -> bool: ...

    async def next(self, within: float | None = None) -> EventT[Any] | None: ...


class Acknowledging(Protocol):
    """What a batch's events are acknowledged to: faust's stream, or a list."""

    async def ack(self, event: EventT[Any]) -> bool: ...


class StreamStopped(Exception):
    """The stream that fed the batches failed."""


ENDED: Any = object()
"""Put in the queue when the stream ends (the worker stops): the agent returns."""


class Queued:
    """The stream's events, taken by a task of their own into a short queue, so that the
    batch runner can see whether more are waiting without waiting itself."""

    def __init__(self, stream: Any, size: int, app: Any = None) -> None:
        self.stream = stream
        self.app = app
        self.ended = False
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(size, 1))
        self.taking = asyncio.create_task(self._take(), name="gvi-batch-intake")

    async def _take(self) -> None:
        try:
            async for event in self.stream.events():
                await self.queue.put(event)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            await self.queue.put(StreamStopped(f"{type(error).__name__}: {error}"))
            raise
        await self.queue.put(ENDED)

    def waiting(self) -> bool:
        """Whether another event is queued here or in the stream's channel."""
        return not self.queue.empty() or not self.stream.channel.queue.empty()

    async def next(self, within: float | None = None) -> EventT[Any] | None:
        """The next event; None when none came `within` seconds or the stream ended
        (`ended`)."""
        if self.ended:
            return None
        if not self.queue.empty():
            item = self.queue.get_nowait()  # no timer for an event that waits already
            if item is ENDED or isinstance(item, StreamStopped) or not self.stale(item):
                return self._taken(item)
            await self.stream.ack(item)
        try:
            async with asyncio.timeout(within):
                item = await self.queue.get()
                while item is not ENDED and not isinstance(item, StreamStopped):
                    if not self.stale(item):
                        break
                    await self.stream.ack(item)
                    item = await self.queue.get()
        except TimeoutError:
            return None
        return self._taken(item)

    def _taken(self, item: Any) -> EventT[Any] | None:
        if isinstance(item, StreamStopped):
            raise item
        if item is ENDED:
            self.ended = True
            return None
        return item  # type: ignore[no-any-return]

    def stale(self, event: EventT[Any]) -> bool:
        """An event of a consumer generation before the current one (the worker lost its
        membership without a revocation): skipped and acknowledged, as faust's stream does with
        it, because handling it could write the state of a partition that another worker now
        owns over newer state. An event of the current generation was taken while the flow was
        on, so faust counts it as started: a revocation or a stop waits until it is acknowledged
        (`wait_empty`) and commits after that, so it is handled even once the flow is paused;
        acknowledging it unhandled would commit past a message nobody handled."""
        app = self.app
        if app is None:
            return False
        generation = getattr(event.message, "generation_id", None)
        return bool(generation != app.consumer_generation_id)

    def stop(self) -> None:
        self.taking.cancel()


async def run_batches(
    runtime: Runtime, stream: StreamT[Any], handle: Guarded, limits: BatchLimits, agent: str
) -> None:
    """Handle `stream` (whose events are acknowledged by hand) batch after batch."""
    queued = Queued(stream, limits.messages, runtime.app)
    runtime.backlogs.register(agent, stage_lag(runtime, stream))
    waited = runtime.metrics.downstream_wait_seconds.labels(agent)
    carried: EventT[Any] | None = None
    try:
        while True:
            waited.inc(await runtime.backlogs.later_stages_first(agent))
            first = carried if carried is not None else await queued.next()
            if first is None:
                return
            done: Counter[str] = Counter()
            DONE.set(done)
            held = runtime.batches_in_flight.started(agent, first)
            try:
                batch, carried = await fill(first, queued, handle, limits)
                with runtime.metrics.batch_flush_seconds.labels(agent).time():
                    await flush(runtime, stream, batch, handle)
            finally:
                runtime.batches_in_flight.finished(held)
                runtime.backlogs.batch_done()
            runtime.metrics.batch_messages.labels(agent).observe(len(batch.events))
            if done:
                log.info("batch handled", agent=agent, messages=len(batch.events), done=done)
    finally:
        queued.stop()


def forget_lags_when_revoked(app: Any, runtime: Runtime) -> None:
    """A revoked partition's run stops counting in a stage's lag until it is handled again: a
    partition given back idle after another worker moved it on would otherwise look behind,
    and the earlier stages would wait before every batch. Where this worker began writing is
    forgotten too: a partition it wrote to while another worker held it, assigned to it now,
    would count messages the other worker handled. The partitions held are read again after
    every revocation and assignment."""

    @app.on_partitions_revoked.connect  # type: ignore[untyped-decorator]
    async def forget(sender: Any, revoked: Any, **signal: Any) -> None:
        runtime.handled.partitions_revoked((tp.topic, tp.partition) for tp in revoked)
        runtime.written_starts.clear()
        runtime.held_partitions.forget()

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def read_again(sender: Any, assigned: Any, **signal: Any) -> None:
        runtime.held_partitions.forget()


def stage_lag(runtime: Runtime, stream: Any) -> Callable[[], int]:
    """The messages on the broker after the last one this agent handled, over the partitions
    of its topics that this worker holds now (0 without a consumer: tests, benchmarks)."""
    app = runtime.app
    topics = tuple(getattr(stream.channel, "topics", ()))
    if app is None or not topics:
        return lambda: 0

    written, held = runtime.written_ends, runtime.held_partitions

    def highwater(partition: tuple[str, int]) -> int | None:
        # The consumer learns a highwater only from its fetches, and it stops fetching a
        # partition whose records wait unread: a lag on its figure alone looked small while the
        # task agent's commands piled up (docs/benchmarks.md, run 13).
        try:
            fetched = app.consumer.highwater(partition)
        except AssertionError:  # aiokafka: the partition was revoked in between
            return None
        own = written.get((partition[0], partition[1]))
        if fetched is None or own is None:
            return fetched if own is None else own
        return max(fetched, own)  # type: ignore[no-any-return]

    def lag() -> int:
        handled = runtime.handled
        assigned = held.of(topics)
        return lag_of(topics, assigned, handled.runs, highwater, handled.revoked, written_from)

    def written_from(partition: tuple[str, int]) -> int | None:
        return runtime.written_starts.get((partition[0], partition[1]))

    return lag


async def fill(
    first: EventT[Any], queued: EventSource, handle: Guarded, limits: BatchLimits
) -> tuple[PendingBatch, EventT[Any] | None]:
    """Handle events into one batch; returns it and the event that must start the next one
    (it writes a key this batch wrote), if any."""
    batch, started = PendingBatch(), time.monotonic()
    token = PENDING.set(batch)
    event: EventT[Any] | None = first
    try:
        while event is not None:
            batch.begin(event)
            try:
                await handle(event)
            except WriteConflict:
                return batch, batch.drop_last()
            left = limits.seconds - (time.monotonic() - started)
            if len(batch.events) >= limits.messages or left <= 0 or not queued.waiting():
                break
            event = await queued.next(left)
        return batch, None
    finally:
        PENDING.reset(token)


async def flush(
    runtime: Runtime, stream: Acknowledging, batch: PendingBatch, handle: Guarded
) -> None:
    """Send the batch's outputs, then write its state, then acknowledge its events. When the
    broker does not take the outputs, the batch's messages are handled again one at a time,
    so that a failure is answered at the message that caused it."""
    try:
        await runtime.flush(batch)
    except Exception as error:
        log.warning(
            "a batch's outputs were not all written; handling its messages one at a time",
            messages=len(batch.events),
            error=f"{type(error).__name__}: {error}",
        )
        for event in batch.events:
            set_current_event(event)
            await handle(event)
            await runtime.state_settled()
    else:
        for topic, partition, offset in batch.handled:
            runtime.handled.mark(topic, partition, offset)
    for event in batch.events:
        await stream.ack(event)

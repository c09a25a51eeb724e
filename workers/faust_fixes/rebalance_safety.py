"""A faust app that neither skips, commits unprocessed nor strands messages in a rebalance."""

import asyncio
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, cast

import faust
import structlog
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.utils.functional import consecutive_numbers
from mode.utils.queues import FlowControlEvent

from workers.faust_fixes.topic_tracking_producer import TopicTrackingProducer

log = structlog.get_logger("gvi.rebalance")

# faust-streaming 0.15.3 loses messages when a worker takes over partitions (docs/streams.md,
# "Rebalance safety"). Each class below replaces one faulty step; the rest of faust is unchanged.


class _NoReadOffsets(dict[TP, int | None]):
    """Read offsets that are never remembered, so faust neither drops nor gap-commits a message.

    faust skips a fetched message below the last offset it read and marks a jump in offsets as
    committable. After a seek both go wrong: a stale read offset written just after the seek
    drops the re-fetched messages, and a jump commits messages that no agent processed.
    Delivering a message twice is harmless here: every effect is idempotent by id.
    """

    def __getitem__(self, tp: TP) -> None:
        return None

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


class AssignedOnlyFlowControl(FlowControlEvent):
    """Resuming keeps the queued events of partitions still assigned.

    faust resumes flow after its seek to committed offsets; mode clears every stream queue on
    resume, so messages fetched in between were dropped without being processed, acked or
    fetched again. Revocation still clears the queues, explicitly.
    """

    def __init__(self, assigned: Callable[[], set[TP]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._assigned = assigned

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()
        try:
            assigned = self._assigned()
        except ConsumerNotStarted:
            assigned = set()
        for queue in list(self._queues):
            pending: Any = queue
            kept = [event for event in pending._queue if _tp_of(event) in assigned]
            if len(kept) != len(pending._queue):
                pending._queue = deque(kept)


def _tp_of(event: Any) -> TP | None:
    message = getattr(event, "message", None)
    return getattr(message, "tp", None)


def records_to_put_back(
    fetched: Mapping[Any, Sequence[Any]],
    changelog_topics: Collection[str],
    seeks: Mapping[Any, int],
    seeks_at_drain: Mapping[Any, int],
) -> dict[Any, int]:
    """Changelog partitions to seek back to the first of their fetched records (tp → offset).

    Only partitions not sought since their records were taken from the fetcher: a seek since
    (recovery's own) already decides where reading goes on.
    """
    return {
        tp: records[0].offset
        for tp, records in fetched.items()
        if records
        and tp.topic in changelog_topics
        and seeks.get(tp, 0) == seeks_at_drain.get(tp, -1)
    }


class SafeConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Seeks every stream partition, including those with no committed offset yet, and can put
    back changelog records that faust drops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seeks: Counter[Any] = Counter()
        self._seeks_at_drain: dict[Any, int] = {}

    def seek(self, partition: TP, offset: int) -> None:
        self._seeks[partition] += 1
        super().seek(partition, offset)

    async def _seek_wait(self, consumer: Any, partitions: Mapping[TP, int]) -> None:
        self._seeks.update(partitions.keys())  # recovery's seeks, on this thread
        await super()._seek_wait(consumer, partitions)

    async def _fetch_records(self, *args: Any, **kwargs: Any) -> Any:
        fetched = await super()._fetch_records(*args, **kwargs)
        self._seeks_at_drain.update((tp, self._seeks[tp]) for tp in fetched)
        return fetched

    async def put_back(self, fetched: Mapping[Any, Sequence[Any]]) -> dict[Any, int]:
        """Seek changelog partitions back over records taken from the fetcher but not delivered.

        Runs on this thread (``call_thread``) without awaiting, like recovery's seeks, so no seek
        comes in between.
        """
        changelogs = self.app.tables.changelog_topics
        rewinds = records_to_put_back(fetched, changelogs, self._seeks, self._seeks_at_drain)
        for tp, offset in rewinds.items():
            self.seek(tp, offset)
        return rewinds

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust hard-codes 1500 ms; a broker that holds each fetch that long (Tansu does) then
        # adds up to 1.5 s to every hop between agents.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_streams_to_committed)  # type: ignore[no-any-return]

    async def _seek_streams_to_committed(self) -> dict[TP, int]:
        # aiokafka's own seek_to_committed skips partitions whose committed offset is missing
        # or 0, leaving them past messages that were fetched but never processed.
        consumer = self._ensure_consumer()
        changelogs = self.app.tables.changelog_topics
        streams = [tp for tp in consumer.assignment() if tp.topic not in changelogs]
        # All in flight at once: one after another, 97 partitions took 0.4 s at each rebalance.
        offsets = await asyncio.gather(*(consumer.committed(tp) for tp in streams))
        committed = dict(zip(streams, offsets, strict=True))
        missing = [tp for tp, offset in committed.items() if offset is None or offset < 0]
        beginnings = await consumer.beginning_offsets(missing) if missing else {}
        starts: dict[TP, int] = {}
        for tp in streams:
            offset = committed[tp]
            if offset is None or offset < 0:
                # Read from offset 0, not from the start the broker lists (Tansu can list
                # record 1, `events.offsets.seek_to_start`); commits still count from the
                # listed start, below which processed offsets are dropped (a log whose head
                # was deleted never shows offset 0 processed).
                consumer.seek(tp, 0)
                starts[tp] = beginnings[tp]
            else:
                consumer.seek(tp, offset)
                starts[tp] = offset
        return starts


class SafeConsumer(faust_aiokafka.Consumer):
    """Seeks every stream partition on takeover; commits only offsets that were processed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _NoReadOffsets()

    def _new_consumer_thread(self) -> SafeConsumerThread:
        return SafeConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _wait_next_records(self, timeout: float) -> Any:  # noqa: ASYNC109 (faust's signature)
        # faust drops a batch that arrives after flow stopped, then seeks only stream partitions
        # back to their commits: dropped changelog records were never read again, and a table
        # recovery waited for them forever (docs/streams.md, "Recovery watchdog").
        records, active_partitions = await super()._wait_next_records(timeout)
        if records and not self.flow_active:
            thread = cast(SafeConsumerThread, self._thread)
            rewinds = await thread.call_thread(thread.put_back, records)
            if rewinds:
                log.info(
                    "changelog records fetched while flow was stopped; read again",
                    partitions={f"{tp.topic}/{tp.partition}": o for tp, o in rewinds.items()},
                )
        return records, active_partitions

    async def perform_seek(self) -> None:
        starts = await self.seek_to_committed()
        self._committed_offset.update({TP(tp.topic, tp.partition): o for tp, o in starts.items()})

    def _new_offset(self, tp: TP) -> int | None:
        start = self._committed_offset[tp]
        return committable_offset(self._acked[tp], self._acked_index[tp], start)


def committable_offset(acked: list[int], acked_index: set[int], start: int | None) -> int | None:
    """The offset to commit: one past the unbroken run of processed offsets from ``start``.

    Consumes that run (and offsets below ``start``) from ``acked`` and ``acked_index``. None when
    the start is unknown or ``start`` itself has not been processed. faust's own version commits
    from any processed offset when the committed offset is unknown or 0, and lets one
    unprocessed offset slip (``min(acked) - committed > 1``).
    """
    if not acked or start is None:
        return None
    acked.sort()
    stale = bisect_left(acked, start)
    if stale:
        acked_index.difference_update(acked[:stale])
        del acked[:stale]
    if not acked or acked[0] != start:
        return None
    batch = next(consecutive_numbers(acked))
    del acked[: len(batch)]
    acked_index.difference_update(batch)
    return int(batch[-1]) + 1


class TopicTrackingFaustProducer(faust_aiokafka.Producer):
    """faust's producer on an aiokafka producer that never forgets a topic it sends to."""

    @property
    def _producer_type(self) -> type[TopicTrackingProducer]:
        return TopicTrackingProducer


class SafeTransport(faust_aiokafka.Transport):
    Consumer = SafeConsumer
    Producer = TopicTrackingFaustProducer


class SafeApp(faust.App):
    """faust.App on the hardened Kafka transport and flow control."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 1500, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._background: list[Callable[[], Awaitable[None]]] = []
        super().__init__(*args, **kwargs)

    def background(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` from the app's start on; faust's timers wait for the first recovery."""
        self._background.append(run)

    async def on_start(self) -> None:
        await super().on_start()
        for run in self._background:
            self.add_future(run())

    def _new_transport(self) -> Any:
        return SafeTransport(self.conf.broker_consumer, self)

    @property
    def flow_control(self) -> FlowControlEvent:
        if self._gvi_flow_control is None:
            self._gvi_flow_control = AssignedOnlyFlowControl(self._assigned_now, loop=self.loop)
        return self._gvi_flow_control

    _gvi_flow_control: AssignedOnlyFlowControl | None = None

    def _assigned_now(self) -> set[TP]:
        return {TP(tp.topic, tp.partition) for tp in self.consumer.assignment()}

"""What every agent shares: settings, policy, topics, tables, and the rejection boundary."""

import asyncio
import functools
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import structlog
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAuthorizationFailedError
from faust.exceptions import ProducerSendError
from faust.types import EventT

from events.admin import recreate_missing
from events.catalogue import Catalogue
from events.codec import key_text
from events.partitioning import needs_forwarding, partition_of
from schemas.rejection import RejectionCode
from workers.core.messages import SourceRef
from workers.core.outputs import Answer, Output
from workers.core.partnerships import PolicyBook
from workers.faust_fixes.internals import aiokafka_producer
from workers.settings import Settings
from workers.stream.backlog import Backlogs, HeldPartitions
from workers.stream.changelog import InProcessTables, TableWrite, TableWriter
from workers.stream.due_watch import DueWatch
from workers.stream.exits import crash_within
from workers.stream.metrics import WorkerMetrics
from workers.stream.outbound import Outbound, messages_of
from workers.stream.pending import PENDING, PendingBatch
from workers.stream.policy_feed import PolicyFeed
from workers.stream.producing import BatchedSend, PartitionBatch
from workers.stream.stores import Writes
from workers.stream.task_tally import TaskTally
from workers.stream.watchdogs.stuck_events import BatchesInFlight

log = structlog.get_logger("gvi.boundary")
METADATA_WAIT_SECONDS = 3.0
"""How long a send may wait for its topic's metadata before the output counts as not delivered
(a topic just created shows its metadata in milliseconds; a task for a recipient whose topic
stays silent is kept as created and sent later, so a short wait loses nothing)."""


MAX_MESSAGE_BYTES = 1_000_000
"""The largest key and value a worker takes: what it forwards or answers must stay below the
broker's and producer's 1 MiB limit; every valid message of the contracts is far smaller."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def message_time(event: EventT[Any]) -> datetime | None:
    """The timestamp the producer (or the broker) gave the event's message, if any."""
    stamp = event.message.timestamp
    return datetime.fromtimestamp(stamp, UTC) if stamp and stamp > 0 else None


@dataclass(frozen=True)
class RetryBackoff:
    """Waits between attempts to write a message's output: doubling from `first` up to `longest`."""

    first: float = 0.2
    longest: float = 10.0

    def delay(self, attempt: int) -> float:
        return float(min(self.first * 2.0 ** min(attempt, 32), self.longest))


@dataclass
class HandledRuns:
    """Per partition, the run of consecutive offsets this process has handled.

    faust delivers a message again after a seek (recovery seeks every stream partition to its
    committed offset, and queued events are kept; see docs/streams.md). Effects are idempotent,
    but an answer on `gvi.rejected` is not: a message inside the run is skipped. Only an
    unbroken run counts, so a message that was never handled (a gap) is never skipped.
    """

    runs: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    revoked: set[tuple[str, int]] = field(default_factory=set)
    """Partitions taken from this worker since their run's last message: another worker may
    have moved them on, so their run says nothing about their lag (`backlog.lag_of`)."""

    def already_handled(self, topic: str, partition: int, offset: int) -> bool:
        """Inside the run, or handled earlier in the batch being filled (its marks wait for
        the flush; a message delivered again after a seek can follow in the same batch)."""
        run = self.runs.get((topic, partition))
        if run is not None and run[0] <= offset <= run[1]:
            return True
        batch = PENDING.get()
        return batch is not None and (topic, partition, offset) in batch.handled

    def mark_handled(self, topic: str, partition: int, offset: int) -> None:
        """A message handled: at once, or inside a batch once the batch is flushed."""
        batch = PENDING.get()
        if batch is not None:
            batch.handled.append((topic, partition, offset))
        else:
            self.mark(topic, partition, offset)

    def partitions_revoked(self, partitions: Iterable[tuple[str, int]]) -> None:
        self.revoked.update((topic, partition) for topic, partition in partitions)

    def mark(self, topic: str, partition: int, offset: int) -> None:
        if self.revoked:
            self.revoked.discard((topic, partition))
        run = self.runs.get((topic, partition))
        if run is not None and offset == run[1] + 1:
            self.runs[(topic, partition)] = (run[0], offset)
        elif run is None or not run[0] <= offset <= run[1]:
            self.runs[(topic, partition)] = (offset, offset)


@dataclass
class Runtime:
    """The shared context of one worker's agents; the app fills in faust topics and tables."""

    settings: Settings
    policies: PolicyBook
    catalogue: Catalogue
    topics: dict[str, Any]
    tables: dict[str, Any]
    worker_name: str = f"{socket.gethostname()}:{os.getpid()}"
    delivery_backoff: RetryBackoff = field(default_factory=RetryBackoff)
    handled: HandledRuns = field(default_factory=HandledRuns)
    topics_checked_at: float = -1e9
    app: Any = None
    policy_feed: PolicyFeed | None = None
    """Reads `gvi.policies` (None in tests without a broker: the book is what it is)."""
    unsettled_state: list[Awaitable[Any]] = field(default_factory=list)
    """Changelog writes made outside a batch (a batch's flush re-run one message at a time)."""
    table_writer: TableWriter = field(default_factory=InProcessTables)
    """Makes table writes: faust's stores and changelogs in the worker (`changelog.Changelog`)."""
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    batches_in_flight: BatchesInFlight = field(default_factory=BatchesInFlight)
    """The batches the agents handle now (the stuck-event and partition watchdogs read it)."""
    task_tally: TaskTally = field(init=False)
    """The task gauges' counts, moved by every task write (`_put`)."""
    due_watch: DueWatch = field(default_factory=DueWatch)
    """When the deadline timer may next have work, moved earlier by every task write."""
    written_ends: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per partition, one past the last offset this worker's outputs were written at: a later
    stage's lag counts them before its consumer's next fetch reports them (`backlog`)."""
    written_starts: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per partition, the first offset this worker's outputs were written at: where a later
    stage that has handled nothing there yet is behind from (`backlog`)."""
    backlogs: Backlogs = field(init=False)
    """Each stage's lag on the broker: an earlier stage waits while a later one lags far behind."""
    held_partitions: HeldPartitions = field(init=False)
    """The partitions the consumer holds, by topic, for the stages' lags."""
    unreachable_topics: set[str] = field(default_factory=set)
    """Recipient topics the producer could not write to: planning keeps new tasks for them as
    created instead of waiting (one recipient's outage never stalls the others), and the
    deadline timer sends them once the topic takes messages again."""

    def __post_init__(self) -> None:
        self.task_tally = TaskTally(self.settings.partitions)
        self.backlogs = Backlogs(self.settings.downstream_backlog_limit)
        self.held_partitions = HeldPartitions(self._assignment)

    def _assignment(self) -> Iterable[tuple[str, int]]:
        return self.app.consumer.assignment() if self.app is not None else ()

    async def policies_current_at(self, moment: datetime) -> None:
        """Wait until every playbook version published before `moment` is read."""
        if self.policy_feed is not None:
            await self.policy_feed.current_at(moment)

    async def policy_known(self, version: str | None) -> None:
        """Wait until the playbooks were read once after start, and `version` with them."""
        if self.policy_feed is not None:
            await self.policy_feed.knows(version)

    def receiver_of(self, recipient: str) -> str:
        """The principal that may read `recipient`'s task topic (`gvi-sanctions acls`)."""
        return self.settings.acl_agency_principal.format(recipient=recipient)

    def unreachable_recipients(self) -> frozenset[str]:
        return frozenset(
            recipient
            for recipient, spec in self.catalogue.tasks.items()
            if spec.name in self.unreachable_topics
        )

    async def commit(self, outputs: Iterable[Output], writes: Writes) -> None:
        """Commit one decision: its outputs sent and acknowledged first, then its state written
        (a crash between the two sends the outputs again, which their ids make harmless).
        Inside a batch both wait for the batch's flush (`flush`)."""
        batch = PENDING.get()
        if batch is not None:
            writes.record()
            self._add(batch, tuple(outputs))
            return
        await self.emit(outputs)
        self.apply(writes)

    def apply(self, writes: Writes) -> None:
        """Make a message's table writes (after its outputs were acknowledged); their changelog
        writes settle before any later output is sent (`emit`). Inside a batch, at its flush."""
        if PENDING.get() is not None:
            writes.record()
            return
        self.unsettled_state = [w for w in self.unsettled_state if not _settled_cleanly(w)]
        made = writes.table_writes(faust.current_event())
        for write in made:
            self._put(write)
        self.unsettled_state.append(asyncio.ensure_future(self._recorded(made)))

    async def _recorded(self, writes: list[TableWrite]) -> None:
        await acknowledged(await self.table_writer.record(writes))

    async def _made(self, writes: list[TableWrite]) -> None:
        """A batch's writes made in the stores, and their changelog records sent and
        acknowledged. Any failure counts as a refused write (`settled`: the worker restarts),
        never as a failure of the batch's outputs, which would handle its messages again over
        state already in the stores and never write its changelog."""
        for write in writes:
            self._put(write)
        await self._recorded(writes)

    def _put(self, write: TableWrite) -> None:
        if write.table is not self.tables.get("tasks"):
            self.table_writer.put(write)
        else:
            replaced = self.table_writer.put(write, replaced=True)
            message = getattr(write.event, "message", None)
            partition = (
                message.partition
                if message is not None
                else partition_of(write.key, self.settings.partitions)
            )
            self.task_tally.replace(partition, replaced, write.stored)
            self.due_watch.written(write.stored)

    def _add(self, batch: PendingBatch, outputs: tuple[Output, ...]) -> None:
        batch.add(outputs, self._messages_of(outputs))

    def _messages_of(self, outputs: tuple[Output, ...]) -> list[Outbound]:
        return messages_of(
            outputs,
            self.catalogue,
            self.settings.partitions,
            self.worker_name,
            utc_now(),
            self.receiver_of,
        )

    def once_sent(self, then: Callable[[], None]) -> None:
        """Call `then` once the outputs so far are acknowledged: now, or at the batch's flush."""
        batch = PENDING.get()
        if batch is None:
            then()
        else:
            batch.once_sent.append(then)

    async def flush(self, batch: PendingBatch) -> None:
        """Make a batch's effects: every output sent and acknowledged, then every table write
        made and acknowledged (so the next batch's outputs follow this batch's state)."""
        await self.flush_outputs(batch)
        await self.settled([asyncio.ensure_future(self._made(batch.state.table_writes()))])

    async def flush_outputs(self, batch: PendingBatch) -> None:
        """Send a batch's outputs and await their acknowledgements (its state waits)."""
        await self._send_all(batch.messages)
        self.metrics.count_sent(batch.outputs)
        for then in batch.once_sent:
            then()

    async def recreate_missing_topics(self) -> None:
        """When output is not delivered, a topic may have been deleted under the worker: create
        it again (at most every 10 s), so that the agent's retry finds it."""
        now = time.monotonic()
        if now - self.topics_checked_at < 10 or self.settings.broker_url is None:
            return
        self.topics_checked_at = now
        try:
            created = await recreate_missing(
                self.settings.kafka, self.catalogue, self.settings.replication_factor
            )
        except Exception as error:
            log.warning("could not check the topics", error=f"{type(error).__name__}: {error}")
            return
        if created:
            log.error("topics were missing; created them again", topics=created)
            self.forget_written_ends(created)

    def forget_written_ends(self, topics: Iterable[str]) -> None:
        """Forget where this worker wrote to `topics`: they were created again, and their
        offsets start over (a noted end left above them would make a later stage look behind,
        and the earlier ones wait before every batch)."""
        gone = set(topics)
        for noted in (self.written_ends, self.written_starts):
            for written in [written for written in noted if written[0] in gone]:
                del noted[written]

    async def send(
        self,
        topic_name: str,
        key: str | bytes,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Send and wait for the broker's acknowledgement, so that state is written only after
        (inside a batch: sent with the batch's outputs)."""
        batch = PENDING.get()
        if batch is not None:
            batch.add((), [Outbound(topic_name, key, value, headers)])
            return
        await self._send_all([Outbound(topic_name, key, value, headers)])

    async def emit(self, outputs: Iterable[Output]) -> None:
        """Send every output of a decision, then await their acknowledgements together: the
        caller writes its state only after all of them (at least once, one round trip).
        Inside a batch, they are sent with the batch's outputs."""
        outputs = tuple(outputs)
        batch = PENDING.get()
        if batch is not None:
            self._add(batch, outputs)
            return
        messages = self._messages_of(outputs)
        if messages:
            await self.state_settled()
        await self._send_all(messages)
        self.metrics.count_sent(outputs)

    async def _send_all(self, messages: list[Outbound]) -> None:
        """Hand every message to the producer, then await their acknowledgements together."""
        send = BatchedSend(aiokafka_producer(self.app)) if self.app is not None else None
        topic = ""
        try:
            # One bound for the whole hand-over (a timer per message cost more than the send):
            # aiokafka waits for a missing topic's metadata with no end.
            async with asyncio.timeout(METADATA_WAIT_SECONDS):
                if send is not None:
                    batches = await send.send(messages)
                else:
                    batches = []
                    for message in messages:
                        topic = message.topic
                        batches.append(await self._sent_through_topic(message))
        except TimeoutError:
            topic = send.topic if send is not None else topic
            error = KafkaTimeoutError(f"{topic}: no metadata within {METADATA_WAIT_SECONDS} s")
            await self._note_unreachable(topic, error)
            raise error from None
        except Exception as error:
            await self._note_unreachable(send.topic if send is not None else topic, error)
            raise
        acks = [batch.ack for batch in batches]
        results = await asyncio.gather(*acks, return_exceptions=True)
        for batch, result in zip(batches, results, strict=True):
            if isinstance(result, BaseException):
                await self._note_unreachable(batch.topic, result)
                continue
            self.unreachable_topics.discard(batch.topic)
            if batch.partition >= 0:
                self._note_end(batch.topic, batch.partition, result.offset, batch.records)
        await acknowledged(acks)

    async def _sent_through_topic(self, message: Outbound) -> PartitionBatch:
        """Without a producer (tests of the agents): one message through its faust topic, on
        no known partition (-1: nothing to note as written)."""
        ack = await self.topics[message.topic].send(
            key=message.raw_key, value=message.value, headers=message.headers
        )
        return PartitionBatch(message.topic, -1, 1, ack)

    def _note_end(self, topic: str, partition: int, first: int, records: int) -> None:
        """Note where a batch was written: the end moves only forward (flushes of two agents
        are acknowledged in any order), unless the batch is a partition's very first: the
        topic was created again (by another worker, or by hand), and the noted end is gone."""
        end, written = first + records, (topic, partition)
        if end > self.written_ends.get(written, 0) or first == 0:
            self.written_ends[written] = end
        if first < self.written_starts.get(written, end):
            self.written_starts[written] = first

    async def _note_unreachable(self, topic: str, error: BaseException) -> None:
        """Remember a recipient topic that did not take a message for a reason that may pass,
        and look for deleted topics (to create them again)."""
        recipient_topics = {spec.name for spec in self.catalogue.tasks.values()}
        if topic not in recipient_topics or topic in self.unreachable_topics:
            return
        if not delivery_failure(error):
            return
        self.unreachable_topics.add(topic)
        log.error(
            "a recipient's topic does not take messages; its new tasks wait as created",
            topic=topic,
            error=f"{type(error).__name__}: {error}",
        )
        await self.recreate_missing_topics()

    async def state_settled(self) -> None:
        """Wait until every table write made outside a batch is on the changelog: before any
        output is sent, and before its message is acknowledged. Without it, a worker killed
        between a message's outputs and its changelog write comes back with older state, and
        an older message handled again emits an older snapshot than one already sent; or a
        committed message's state is lost for good. (A batch waits for its own writes in
        `flush`.)

        A changelog write the broker refused leaves state that no restart would see: the
        worker crashes (its supervisor restarts it, and it recovers from the changelog) and
        never answers another message meanwhile.
        """
        if not self.unsettled_state:
            return
        waiting = list(self.unsettled_state)
        settled = {id(w) for w in waiting}
        await self.settled(waiting)
        self.unsettled_state = [w for w in self.unsettled_state if id(w) not in settled]

    async def settled(self, waiting: list[Awaitable[Any]]) -> None:
        """Wait until the changelog writes `waiting` are acknowledged; a refused one crashes
        the worker (see `state_settled`)."""
        if not waiting:
            return
        results = await asyncio.gather(*waiting, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.error("a table write was not acknowledged; restarting", error=str(failed[0]))
            await crash_within(self.app, failed[0])
            await asyncio.Event().wait()

    def source_of(self, event: EventT[Any]) -> SourceRef:
        """Where the sender published the message: for a forwarded message, where it arrived
        first (its headers say so; trusted only on the worker's own routed topics)."""
        message = event.message
        if message.topic in self.routed_topics:
            origin = source_from_headers(message.headers, key_text(message.key))
            if origin is not None:
                return origin
        return SourceRef(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=key_text(message.key),
        )

    @functools.cached_property
    def routed_topics(self) -> frozenset[str]:
        return frozenset(spec.name for spec in self.catalogue.routed.values())

    async def forward_if_misplaced(self, event: EventT[Any]) -> bool:
        """Forward a message of an outside topic that arrived off the partition owning its key
        to the internal routed topic (same key and value, its coordinates in headers); True
        when forwarded. State is only ever touched in the owner partition."""
        message = event.message
        routed = self.catalogue.routed.get(message.topic)
        raw_key = (
            message.key if isinstance(message.key, bytes | None) else str(message.key).encode()
        )
        if (
            routed is None
            or raw_key is None
            or not needs_forwarding(raw_key, message.partition, self.settings.partitions)
        ):
            return False
        headers = [
            (SOURCE_TOPIC, message.topic.encode()),
            (SOURCE_PARTITION, str(message.partition).encode()),
            (SOURCE_OFFSET, str(message.offset).encode()),
        ]
        await self.send(routed.name, raw_key, message.value, headers)
        log.debug(
            "message forwarded to the partition owning its key",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        return True

    async def reject(self, source: SourceRef, code: RejectionCode, message: str) -> None:
        log.warning(
            "message rejected",
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            code=code.value,
            reason=message[:2000],
        )
        await self.emit([Answer(source, code, message)])


def _settled_cleanly(write: Awaitable[Any]) -> bool:
    """A changelog write the broker has acknowledged (a failed one is kept, to be reported)."""
    return (
        isinstance(write, asyncio.Future)
        and write.done()
        and not write.cancelled()
        and write.exception() is None
    )


async def acknowledged(acks: list[Awaitable[Any]]) -> None:
    """Wait for every acknowledgement; raise the first failure once all have settled."""
    results = await asyncio.gather(*acks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET = (
    "gvi-source-topic",
    "gvi-source-partition",
    "gvi-source-offset",
)


def source_from_headers(headers: Any, key: str | None) -> SourceRef | None:
    """The first coordinates of a forwarded message, from its headers; None without them."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found = {name: value for name, value in pairs}
    try:
        return SourceRef(
            topic=bytes(found[SOURCE_TOPIC]).decode("utf-8"),
            partition=int(found[SOURCE_PARTITION]),
            offset=int(found[SOURCE_OFFSET]),
            key=key,
        )
    except (KeyError, ValueError, TypeError):
        return None


class DeliveryFailed(Exception):
    """The broker did not take a message's output, for a reason that may pass."""


def delivery_failure(error: BaseException) -> bool:
    """True when the output was not written for a reason that may pass, not a bad message."""
    cause = error.__cause__ if isinstance(error, ProducerSendError) else error
    if isinstance(cause, KafkaTimeoutError | TopicAuthorizationFailedError):
        return True  # a missing topic, or one not authorised yet: the message is not at fault
    return isinstance(cause, KafkaError) and bool(getattr(cause, "retriable", False))

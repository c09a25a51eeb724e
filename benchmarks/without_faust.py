"""The worker's four stages on aiokafka alone, without faust: what the way out costs, measured.

The decision record names "the worker without faust" as the way to issue 23's unmet targets.
This measures it before anyone builds it: the worker's own handlers, batch runner, error
boundary, encodings and record batches (`workers/stream`), fed by one `AIOKafkaConsumer` and
writing every output and changelog record through one `AIOKafkaProducer`, on the same broker
as the raw floor, in the same run. What it leaves out is what a real worker without faust would
still need: a consumer group's rebalancing, recovery of the tables from their changelogs,
standby replicas, the watchdogs, the deadline timer, the web port and its metrics. So its CPU
per incident is a lower bound for such a worker, not a forecast.

`make bench` runs it after the raw floor, on the same incidents under topics of their own
(`benchmarks.stream_layer.without_faust_catch_up`), in a process of its own:
`python -m benchmarks.without_faust [--profile FILE] [--client librdkafka] BOOTSTRAP PREFIX
INCIDENTS TASKS`. With `--client librdkafka` the same stages run on confluent-kafka's producer
and consumer behind the same calls (`benchmarks/librdkafka_client.py`; `make bench
--without-faust-on-librdkafka`).
"""

import argparse
import asyncio
import cProfile
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.in_process import BATCHES_OF_32, printed_apart
from benchmarks.librdkafka_client import LibrdkafkaConsumer, LibrdkafkaProducer
from events.admin import ensure_topics
from events.catalogue import Catalogue, build_catalogue
from tests.support.fakes import event_on
from workers.core.partnerships import PolicyBook
from workers.logs import configure_logging
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream.agents import completion, intake, planning, tasks
from workers.stream.app import PRODUCER_BATCH_BYTES, TABLES
from workers.stream.batches import BatchLimits, fill, flush
from workers.stream.boundary import guarded
from workers.stream.changelog import TableWrite, _written
from workers.stream.outbound import Outbound
from workers.stream.producing import BatchedSend
from workers.stream.runtime import Runtime
from workers.stream.worker import collect_garbage_less_often, freeze_long_lived_objects

POLICY = load_policy()
_RUN = Settings()
PARTITIONS, OUTPUT_PARTITIONS = _RUN.partitions, _RUN.output_partitions
"""Per topic, as the worker's in the same run (`GVI_PARTITIONS`, `GVI_OUTPUT_PARTITIONS`)."""
STAGES = ("incidents", "group_work", "task_commands", "task_events")
"""The stages' input topics (catalogue attributes) after the groups, which are read first."""
GROUPS = 20
"""Groups in the scenario (`make bench`'s)."""
COMMIT_EVERY = 1.0
"""Seconds between offset commits, as the worker's `broker_commit_interval`."""
GIVE_UP_SECONDS = 1800
CLIENTS = ("aiokafka", "librdkafka")
"""The Kafka clients the stages can run on (`--client`)."""


class CountingProducer:
    """The producer as `BatchedSend` uses it, counting the records acknowledged per topic."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.tasks_sent = 0
        self.last_task_at = 0.0
        self.acknowledged: Counter[str] = Counter()

    def create_batch(self) -> Any:
        return self.producer.create_batch()

    async def partitions_for(self, topic: str) -> Any:
        return await self.producer.partitions_for(topic)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
        count = batch.record_count()
        ack = await self.producer.send_batch(batch, topic, partition=partition)
        ack.add_done_callback(lambda sent: self._acknowledged(topic, count, sent))
        return ack

    def _acknowledged(self, topic: str, count: int, sent: Any) -> None:
        if sent.cancelled() or sent.exception() is not None:
            return  # the flush raises it
        self.acknowledged[topic] += count
        if ".tasks." in topic:
            self.tasks_sent += count
            self.last_task_at = time.monotonic()


class ChangelogRecords:
    """Table writes into plain mappings, each with its changelog record produced on the
    partition of the message that caused it (what `workers.stream.changelog.Changelog` does
    with faust's stores)."""

    def __init__(self, producer: CountingProducer, app_id: str) -> None:
        self.producer = producer
        self.app_id = app_id

    def put(self, write: TableWrite, replaced: bool = False) -> bytes | None:
        return _written(write.table, write, replaced)

    async def record(self, writes: Sequence[TableWrite]) -> list[Any]:
        records = [
            Outbound(
                f"{self.app_id}-{write.table.name}-changelog",
                json.dumps(write.key).encode(),  # faust's json key serializer
                write.stored,
                partition=write.event.message.partition,
            )
            for write in writes
        ]
        batches = await BatchedSend(self.producer).send(records)
        return [batch.ack for batch in batches]


class NamedTable(dict[str, bytes]):
    """A table's store: a mapping with the table's name."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class Incoming:
    """One stage's consumed events, as the batch runner takes them (`batches.EventSource`)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def waiting(self) -> bool:
        return not self.queue.empty()

    async def next(self, within: float | None = None) -> Any:
        try:
            return await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return None


class Offsets:
    """Acknowledged events, committed as the next offset of each partition."""

    def __init__(self) -> None:
        self.next: dict[TopicPartition, int] = {}
        self.handled = 0

    async def ack(self, event: Any) -> bool:
        message = event.message
        self.next[TopicPartition(message.topic, message.partition)] = message.offset + 1
        self.handled += 1
        return True


def consumed(record: Any) -> Any:
    """A consumed record as the worker's agents see an event."""
    return event_on(
        record.topic,
        record.key,
        record.value,
        partition=record.partition,
        offset=record.offset,
        headers=list(record.headers) or None,
        timestamp=record.timestamp / 1000,
    )


def stage_handlers(runtime: Runtime) -> dict[str, Any]:
    """Each input topic's handler, inside the error boundary."""
    handlers: dict[str, Any] = {}
    for agent in (intake, planning, tasks, completion):
        context = agent.context(runtime)
        for topic, handler in agent.handlers(runtime.catalogue).items():
            handlers[topic] = (handler, context)

    def guarded_handler(topic: str) -> Any:
        handler, context = handlers[topic]

        async def one(event: Any) -> None:
            await handler(context, event)

        async def handle(event: Any) -> None:
            await guarded(runtime, event, one)

        return handle

    return {topic: guarded_handler(topic) for topic in handlers}


async def run_stage(
    runtime: Runtime, incoming: Incoming, handle: Any, acks: Offsets, limits: BatchLimits
) -> None:
    """The batch runner of one agent: a batch of what is queued, flushed, then the next."""
    while True:
        carried = await incoming.next()
        while carried is not None:
            batch, carried = await fill(carried, incoming, handle, limits)
            await flush(runtime, acks, batch, handle)


def clients(client: str, bootstrap: str, app_id: str) -> tuple[Any, Any]:
    """The producer and the consumer the stages use: aiokafka's, or librdkafka's behind the
    same calls (`benchmarks.librdkafka_client`)."""
    if client == "librdkafka":
        return LibrdkafkaProducer(bootstrap), LibrdkafkaConsumer(bootstrap, app_id)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=PRODUCER_BATCH_BYTES
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    return producer, consumer


async def stages(
    bootstrap: str, prefix: str, incidents: int, expected_tasks: int, client: str = "aiokafka"
) -> dict[str, Any]:
    """Run the stages until every expected task is acknowledged and every stage's input is
    handled (all state written); the figures of that run, start-up included."""
    collect_garbage_less_often()
    app_id = f"{prefix}nofaust"
    catalogue = build_catalogue(prefix, PARTITIONS, POLICY.recipient_ids, OUTPUT_PARTITIONS)
    producer, consumer = clients(client, bootstrap, app_id)
    started_cpu, started = time.process_time(), time.monotonic()
    main_started = time.thread_time()
    await producer.start()
    await consumer.start()
    counting = CountingProducer(producer)
    runtime = Runtime(
        settings=Settings(topic_prefix=prefix, partitions=PARTITIONS),
        policies=PolicyBook(POLICY),
        catalogue=catalogue,
        topics={},
        tables={name: NamedTable(name) for name in TABLES},
        app=SimpleNamespace(
            producer=SimpleNamespace(_ensure_producer=lambda: counting),
            consumer=SimpleNamespace(assignment=lambda: ()),
        ),
        table_writer=ChangelogRecords(counting, app_id),
    )
    handlers = stage_handlers(runtime)
    acks = Offsets()
    names = [getattr(catalogue, stage).name for stage in ("groups", *STAGES)]
    incoming = {name: Incoming() for name in names}
    runners = [
        asyncio.create_task(run_stage(runtime, incoming[n], handlers[n], acks, BATCHES_OF_32))
        for n in names
    ]
    freeze_long_lived_objects()
    internal = [getattr(catalogue, stage).name for stage in STAGES[1:]]

    def groups_known() -> bool:
        return acks.handled >= GROUPS

    def all_handled() -> bool:
        # Every record written to a stage's input (the outside ones and those the stages
        # wrote) is handled once every task is acknowledged: all state is written.
        written = GROUPS + incidents + sum(counting.acknowledged[name] for name in internal)
        return counting.tasks_sent >= expected_tasks and acks.handled >= written

    try:
        # The group profiles first, as a worker that has run for a while knows them (an
        # incident of a group not yet known waits on a topic of its own that this loop skips).
        consumer.assign([TopicPartition(names[0], p) for p in range(PARTITIONS)])
        await fetch_until(consumer, incoming, acks, groups_known, started)
        await commit(consumer, acks)
        groups_known_at = time.monotonic()
        consumer.assign([TopicPartition(name, p) for name in names[1:] for p in range(PARTITIONS)])
        await fetch_until(consumer, incoming, acks, all_handled, started)
        await commit(consumer, acks)
        settled_cpu, settled = time.process_time(), time.monotonic()
        main_cpu = time.thread_time() - main_started
    finally:
        for runner in runners:
            runner.cancel()
        await consumer.stop()
        await producer.stop()
    return {
        "incidents": incidents,
        "tasks": counting.tasks_sent,
        "seconds_to_last_task": round(counting.last_task_at - started, 3),
        "seconds_settled": round(settled - started, 3),
        "seconds_to_groups_known": round(groups_known_at - started, 3),
        "cpu_ms_per_incident": round(1000 * (settled_cpu - started_cpu) / incidents, 2),
        "messages_handled": acks.handled,
        "main_thread_cpu_ms_per_incident": round(1000 * main_cpu / incidents, 2),
        "records_written": sum(counting.acknowledged.values()),
    }


async def commit(consumer: Any, acks: Offsets) -> None:
    """Commit the next offset of every assigned partition with acknowledged events."""
    assigned = consumer.assignment()
    offsets = {
        partition: offset for partition, offset in acks.next.items() if partition in assigned
    }
    if offsets:
        await consumer.commit(offsets)


async def fetch_until(
    consumer: Any,
    incoming: dict[str, Incoming],
    acks: Offsets,
    done: Callable[[], bool],
    started: float,
) -> None:
    """Hand fetched records to their stages, committing every `COMMIT_EVERY` s, until `done`."""
    committed_at = time.monotonic()
    while not done():
        fetched = await consumer.getmany(timeout_ms=100)
        for partition, records in fetched.items():
            queue = incoming[partition.topic].queue
            for record in records:
                queue.put_nowait(consumed(record))
        if time.monotonic() - committed_at >= COMMIT_EVERY and acks.next:
            await commit(consumer, acks)
            committed_at = time.monotonic()
        if time.monotonic() - started > GIVE_UP_SECONDS:
            raise TimeoutError(f"the stages did not finish within {GIVE_UP_SECONDS} s")


async def stages_apart(
    bootstrap: str,
    prefix: str,
    incidents: int,
    expected: int,
    profile: str | None = None,
    client: str = "aiokafka",
) -> dict[str, Any]:
    """`stages` in a process of its own (only its own CPU counted), as `make bench` runs it
    beside the raw floor and the worker."""
    printed = await printed_apart(
        "benchmarks.without_faust",
        *(["--profile", profile] if profile else []),
        "--client",
        client,
        bootstrap,
        prefix,
        str(incidents),
        str(expected),
    )
    figures: dict[str, Any] = json.loads(printed.strip().splitlines()[-1])
    return figures


async def prepare_topics(bootstrap: str, prefix: str) -> Catalogue:
    """The stages' topics and changelogs under `prefix`, created; their catalogue."""
    catalogue = build_catalogue(prefix, PARTITIONS, POLICY.recipient_ids, OUTPUT_PARTITIONS)
    changelogs = [f"{prefix}nofaust-{table}-changelog" for table in TABLES]
    await ensure_topics(bootstrap, catalogue, 1, changelogs)
    return catalogue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", help="a cProfile of the run, to this file")
    parser.add_argument("--client", choices=CLIENTS, default="aiokafka")
    parser.add_argument("bootstrap")
    parser.add_argument("prefix", help="of topics `prepare_topics` made, groups and incidents in")
    parser.add_argument("incidents", type=int)
    parser.add_argument("tasks", type=int, help="the tasks the incidents make (done at this)")
    arguments = parser.parse_args()
    configure_logging("warning")
    run = stages(
        arguments.bootstrap,
        arguments.prefix,
        arguments.incidents,
        arguments.tasks,
        arguments.client,
    )
    if arguments.profile:
        with cProfile.Profile() as profile:
            figures = asyncio.run(run)
        profile.dump_stats(arguments.profile)
    else:
        figures = asyncio.run(run)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

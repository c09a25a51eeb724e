"""Writer processes write every partition of a topic at once while one reader follows it: the
offsets the reader hands out, and which it skipped.

`python -m tests.support.late_writes_probe [--writers 4] [--records 4000] [--rounds 5]
[--unheld]` runs rounds on a new embedded broker (Tansu) and prints the offsets skipped per
round, and each gap the reader waited for (`workers.faust_fixes.late_writes`). `--unheld`
reads as plain aiokafka does: on Tansu 0.6.0 it skipped 4 of 320,000 records with the defaults
(docs/streams.md, "A gap in a partition's offsets is waited for, on Tansu")."""

import argparse
import asyncio
import subprocess
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.throughput import create_topics
from events.offsets import seek_to_start
from workers.logs import configure_logging
from workers.tools import kafka_clients
from workers.tools.embedded_broker import EmbeddedBroker
from workers.tools.kafka_clients import hold_at_gaps_on_tansu

PARTITIONS = 4
"""Of each topic made by `benchmarks.throughput.create_topics`."""


def skipped_while_written(
    bootstrap: str, topic: str, writers: int, per_partition: int
) -> dict[int, list[int]]:
    """Create `topic`, let `writers` processes write `per_partition` records each to every
    partition of it while one reader follows it from the start; the offsets not handed out (or
    read out of order: the first ten read) per partition."""
    asyncio.run(create_topics(bootstrap, topic))
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.interleaved_writes",
                bootstrap,
                f"W{n}",
                topic,
                str(per_partition),
            ]
        )
        for n in range(writers)
    ]
    exits: list[int] = []
    try:
        read = asyncio.run(_follow(bootstrap, topic, writers * per_partition))
    finally:
        for writer in started:
            try:
                exits.append(writer.wait(timeout=60))
            except subprocess.TimeoutExpired:
                writer.kill()
                exits.append(writer.wait())
    if exits != [0] * writers:
        raise RuntimeError(f"a writer process failed: exit codes {exits}")
    total = writers * per_partition
    return {
        partition: sorted(set(range(total)) - set(offsets)) or offsets[:10]
        for partition, offsets in read.items()
        if offsets != list(range(total))
    }


async def _follow(bootstrap: str, topic: str, total: int) -> dict[int, list[int]]:
    """The offsets a reader hands out per partition, until each has handed out its last.
    It fetches at most 20 ms apart (a reader of the tail meets the race more often so), and
    holds at gaps where the project's readers do (`hold_at_gaps_on_tansu`)."""
    await hold_at_gaps_on_tansu(bootstrap)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
    )
    await consumer.start()
    read: dict[int, list[int]] = {partition: [] for partition in range(PARTITIONS)}
    try:
        partitions = [TopicPartition(topic, partition) for partition in range(PARTITIONS)]
        consumer.assign(partitions)
        seek_to_start(consumer, partitions)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=200)
            for partition, records in fetched.items():
                read[partition.partition].extend(record.offset for record in records)
            if all(offsets and offsets[-1] >= total - 1 for offsets in read.values()):
                break
    finally:
        await consumer.stop()
    return read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--records", type=int, default=4000, help="per writer and partition")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--unheld", action="store_true", help="read as plain aiokafka does")
    arguments = parser.parse_args()
    configure_logging("info")
    skipped_in_all = 0
    with EmbeddedBroker() as broker:
        if arguments.unheld:
            kafka_clients._brokers_asked.add(broker.bootstrap_servers)  # never asked: never held
        for round_number in range(arguments.rounds):
            topic = f"late-writes-probe-{uuid.uuid4().hex[:8]}"
            skipped = skipped_while_written(
                broker.bootstrap_servers, topic, arguments.writers, arguments.records
            )
            count = sum(len(offsets) for offsets in skipped.values())
            skipped_in_all += count
            listed = {partition: offsets[:10] for partition, offsets in skipped.items()}
            print(f"round {round_number}: {count} skipped: {listed}", flush=True)
    written = arguments.rounds * PARTITIONS * arguments.writers * arguments.records
    print(f"all rounds: {skipped_in_all} of {written} records skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

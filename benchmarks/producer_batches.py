"""CPU per record of aiokafka's two produce paths on the same broker: `send` per record (what the
worker does) against the batch API (`create_batch`/`send_batch`, one future per partition).

Run: `GVI_TEST_BROKER=kafka make bench-producer`. Each flush hands the producer one batch
runner's outputs over 16 topics of 4 partitions and awaits every acknowledgement, as
`Runtime._send_all` does; the figures decide whether the worker should produce through the
batch API (docs/benchmarks.md, "The producer's batch API").
"""

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from benchmarks.throughput import create_topics
from events.partitioning import key_partitioner, owner_partition
from tests.support.brokers import running_broker
from workers.settings import Settings

TOPICS = tuple(f"producer-bench-{n}" for n in range(16))
PARTITIONS = 4
VALUE_BYTES = 700
"""About a task view's size."""

Record = tuple[str, bytes, bytes]


def records(count: int, seed: int) -> list[Record]:
    chance = random.Random(seed)
    return [
        (
            chance.choice(TOPICS),
            f"task-{chance.randrange(10**9)}".encode(),
            chance.randbytes(VALUE_BYTES // 2).hex().encode(),
        )
        for _ in range(count)
    ]


async def one_by_one(producer: AIOKafkaProducer, flush: list[Record]) -> None:
    acks = [await producer.send(topic, value=value, key=key) for topic, key, value in flush]
    await asyncio.gather(*acks)


async def in_batches(producer: AIOKafkaProducer, flush: list[Record]) -> None:
    by_partition: dict[tuple[str, int], list[tuple[bytes, bytes]]] = defaultdict(list)
    for topic, key, value in flush:
        by_partition[(topic, owner_partition(key, PARTITIONS))].append((key, value))
    acks = []
    for (topic, partition), items in by_partition.items():
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                acks.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        acks.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*acks)


async def measure(bootstrap: str, per_flush: int, total: int, rounds: int) -> dict[str, Any]:
    await create_topics(bootstrap, *TOPICS)  # of PARTITIONS each
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=-1,
        partitioner=key_partitioner,
        max_batch_size=1_000_000,  # the worker's PRODUCER_BATCH_BYTES
    )
    await producer.start()
    try:
        for topic in TOPICS:
            await producer.partitions_for(topic)
        figures: dict[str, list[float]] = {"send": [], "send_batch": []}
        for number in range(rounds):
            for name, path in (("send", one_by_one), ("send_batch", in_batches)):
                sent = records(total, number)
                started = time.process_time()
                for start in range(0, total, per_flush):
                    await path(producer, sent[start : start + per_flush])
                used = time.process_time() - started
                figures[name].append(round(used / total * 1e6, 1))
        return {"records_per_flush": per_flush, "cpu_us_per_record": figures}
    finally:
        await producer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=40_000, help="per path and round")
    parser.add_argument("--rounds", type=int, default=2, help="each path, alternating")
    parser.add_argument(
        "--per-flush", type=int, nargs="+", default=[40, 250], help="records per flush"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_broker(Path(scratch)) as url:
        bootstrap = Settings(broker_url=url).bootstrap_servers
        report = [
            asyncio.run(measure(bootstrap, per_flush, arguments.records, arguments.rounds))
            for per_flush in arguments.per_flush
        ]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A producer process that writes one record to every partition of some topics at a set time:
two of them started together write each partition's first records at once.

`python -m tests.support.first_records BOOTSTRAP NAME AT_EPOCH_SECONDS TOPIC...`; the value of
each record is `NAME/TOPIC/PARTITION`."""

import asyncio
import sys
import time

from aiokafka import AIOKafkaProducer


async def write_first_records(bootstrap: str, name: str, at: float, topics: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=1)
    await producer.start()
    try:
        partitions = {topic: sorted(await producer.partitions_for(topic)) for topic in topics}
        await asyncio.sleep(max(0.0, at - time.time()))
        sends = [
            await producer.send(topic, f"{name}/{topic}/{number}".encode(), partition=number)
            for topic in topics
            for number in partitions[topic]
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(write_first_records(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]))

"""A producer process that writes COUNT records to every partition of a topic, one record per
batch, as fast as the broker acknowledges them: two of them write each partition at once.

`python -m tests.support.interleaved_writes BOOTSTRAP NAME TOPIC COUNT`; the value of each
record is `NAME/N`."""

import asyncio
import sys

from aiokafka import AIOKafkaProducer


async def write_interleaved(bootstrap: str, name: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=1)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        for start in range(0, count, 50):
            sends = [
                await producer.send(topic, f"{name}/{n}".encode(), partition=partition)
                for n in range(start, min(start + 50, count))
                for partition in partitions
            ]
            await asyncio.gather(*sends)
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(write_interleaved(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))

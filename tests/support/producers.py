"""A stand-in for aiokafka's producer in unit tests: its batch API, acknowledging at once."""

import asyncio
from types import SimpleNamespace
from typing import Any


class Batch:
    """A record batch as aiokafka's batch API builds it (holding at most `room` records)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(
        self, *, timestamp: Any, key: bytes | None, value: bytes | None, headers: Any
    ) -> Any:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return SimpleNamespace(offset=len(self.records) - 1)


class Producer:
    """Takes batches as aiokafka's producer does, and acknowledges the n-th sent batch at
    offset `first_offset` + n (its first record's offset)."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.sent: list[tuple[str, bytes | None, bytes | None, int | None]] = []
        self.batches = 0
        self.first_offset = 40

    def create_batch(self) -> Batch:
        return Batch(self.room)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> Any:
        self.sent.extend((topic, key, value, partition) for key, value in batch.records)
        self.batches += 1
        acknowledged: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(
            SimpleNamespace(
                topic=topic, partition=partition, offset=self.first_offset + self.batches
            )
        )
        return acknowledged


def app_on(producer: Producer) -> Any:
    """An app whose faust producer runs on `producer` (`internals.aiokafka_producer`)."""
    return SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))

"""Fakes for the middle tier: a worker's runtime in process, with topics that record what is
sent and tables that journal what is written, so that agents run without a broker."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable
from types import SimpleNamespace
from typing import Any

from events.catalogue import build_catalogue
from events.partitioning import owner_partition
from workers.core.partnerships import PolicyBook
from workers.core.policy import Policy
from workers.settings import Settings
from workers.stream.app import TABLES
from workers.stream.runtime import RetryBackoff, Runtime

PARTITIONS = 4


class RecordingTopic:
    """A topic stand-in whose sends succeed, or fail with the errors queued in `failures`;
    each send is also written to the shared `journal`."""

    def __init__(self, name: str = "", journal: list[tuple[str, str]] | None = None) -> None:
        self.name = name
        self.journal = journal if journal is not None else []
        self.sent: list[tuple[bytes, bytes]] = []
        self.failures: list[Exception] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []

    async def send(
        self, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Awaitable[None]:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((key, value))
        self.headers.append(headers)
        self.journal.append(("send", self.name))
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


class JournalTable(dict[str, bytes]):
    """A table stand-in (raw values) that writes each change to the shared `journal`."""

    def __init__(self, name: str, journal: list[tuple[str, str]]) -> None:
        super().__init__()
        self.name = name
        self.journal = journal

    def __setitem__(self, key: str, value: bytes) -> None:
        self.journal.append(("write", self.name))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.journal.append(("write", self.name))
        super().__delitem__(key)


def in_process_runtime(policy: Policy, journal: list[tuple[str, str]] | None = None) -> Runtime:
    """A runtime whose every topic records and every table journals, on `PARTITIONS`."""
    journal = journal if journal is not None else []
    settings = Settings()
    catalogue = build_catalogue(settings.topic_prefix, PARTITIONS, policy.recipient_ids)
    return Runtime(
        settings=settings.model_copy(update={"partitions": PARTITIONS}),
        policies=PolicyBook(policy),
        catalogue=catalogue,
        topics={spec.name: RecordingTopic(spec.name, journal) for spec in catalogue.all()},
        tables={name: JournalTable(name, journal) for name in TABLES},
        delivery_backoff=RetryBackoff(first=0.001, longest=0.004),
    )


_offsets = itertools.count(1)


class ConsumedEvent(SimpleNamespace):
    """A consumed message's event (a class of its own: faust keeps weak references to events)."""


def event_on(topic: str, key: str | bytes | None, value: bytes | None, **message: Any) -> Any:
    """A consumed message of `topic` as faust hands it to an agent, on the partition that
    owns its key (unless `partition` is given)."""
    raw_key = key.encode() if isinstance(key, str) else key
    fields: dict[str, Any] = {
        "topic": topic,
        "partition": owner_partition(raw_key, PARTITIONS) if raw_key else 0,
        "offset": next(_offsets),
        "key": raw_key,
        "value": value,
        "headers": None,
        "timestamp": None,
    }
    fields.update(message)
    return ConsumedEvent(message=SimpleNamespace(**fields), key=raw_key, value=value)


def sent_on(runtime: Runtime, topic: str) -> list[tuple[bytes, bytes]]:
    """What was sent to `topic` so far."""
    recording: RecordingTopic = runtime.topics[topic]
    return recording.sent


class ListedEvents:
    """The batch runner's queue over a list (`batches.Queued`)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def waiting(self) -> bool:
        return bool(self.events)

    async def next(self, within: float | None = None) -> Any:
        return self.events.pop(0) if self.events else None


class Acks:
    """A stream whose acknowledgements are listed."""

    def __init__(self) -> None:
        self.acked: list[Any] = []

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return True


class FakeStream:
    """A stream of listed events, acknowledged by hand."""

    def __init__(self, events: list[Any]) -> None:
        self.listed = events
        self.acked: list[Any] = []
        self.channel = SimpleNamespace(queue=asyncio.Queue())

    async def events(self) -> AsyncIterator[Any]:
        for event in self.listed:
            yield event

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return True

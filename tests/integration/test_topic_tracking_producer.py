"""A message queued just before the producer starts tracking a new topic is still delivered."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from workers.faust_fixes.topic_tracking_producer import TopicTrackingProducer
from workers.settings import Settings

pytestmark = pytest.mark.broker

_runs = itertools.count(1)
# The first message lingers this long in the producer's queue, so that the metadata refresh
# triggered by the second topic lands before the first message is sent. Without the linger the
# same thing happens, but only when that refresh wins a race (about 1 in 100 crash-test runs).
LINGER_MS = 500


@pytest.fixture
async def admin(broker_url: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(
        bootstrap_servers=Settings(broker_url=broker_url).bootstrap_servers
    )
    await client.start()
    yield client
    await client.close()


@dataclass
class Scenario:
    """A producer with one message queued for a known topic and one sent to a new topic."""

    producer: AIOKafkaProducer
    known_topic: str
    queued: Awaitable[object]
    on_new_topic: Awaitable[object]


async def _queue_then_track_new_topic(
    make_producer: Callable[..., AIOKafkaProducer], bootstrap: str, admin: AIOKafkaAdminClient
) -> Scenario:
    run = next(_runs)
    known, created_later = f"tracking-known-{run}", f"tracking-later-{run}"
    await admin.create_topics([NewTopic(known, 1, 1)])
    producer = make_producer(bootstrap_servers=bootstrap, acks="all", linger_ms=LINGER_MS)
    await producer.start()
    await _until_in_metadata(producer, known)
    await admin.create_topics([NewTopic(created_later, 1, 1)])
    await _until_broker_knows(admin, created_later)
    queued = await producer.send(known, b"queued before the new topic")
    on_new_topic = await producer.send(created_later, b"first message to the new topic")
    return Scenario(producer, known, queued, on_new_topic)


async def _until_in_metadata(producer: AIOKafkaProducer, topic: str) -> None:
    for _attempt in range(100):
        await producer.client.force_metadata_update()
        if producer.client.cluster.partitions_for_topic(topic):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{topic} never appeared in the producer's metadata")


async def _until_broker_knows(admin: AIOKafkaAdminClient, topic: str) -> None:
    for _attempt in range(100):
        if topic in await admin.list_topics():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{topic} was never listed by the broker")


async def test_a_message_queued_before_a_new_topic_is_tracked_is_acknowledged(
    broker_url: str, admin: AIOKafkaAdminClient
) -> None:
    bootstrap = Settings(broker_url=broker_url).bootstrap_servers
    scenario = await _queue_then_track_new_topic(TopicTrackingProducer, bootstrap, admin)
    try:
        queued = await asyncio.wait_for(scenario.queued, 15)
        on_new_topic = await asyncio.wait_for(scenario.on_new_topic, 15)
        assert (queued.topic, queued.offset) == (scenario.known_topic, 0)  # type: ignore[attr-defined]
        assert on_new_topic.offset == 0  # type: ignore[attr-defined]
    finally:
        scenario.producer.client.add_topic(scenario.known_topic)  # lets stop() finish on failure
        await scenario.producer.stop()


async def test_plain_aiokafka_still_strands_that_message(
    broker_url: str, admin: AIOKafkaAdminClient
) -> None:
    """Canary: when this fails, aiokafka has fixed the bug and TopicTrackingProducer can go."""
    bootstrap = Settings(broker_url=broker_url).bootstrap_servers
    scenario = await _queue_then_track_new_topic(AIOKafkaProducer, bootstrap, admin)
    queued = asyncio.ensure_future(scenario.queued)
    try:
        await asyncio.wait_for(scenario.on_new_topic, 15)
        done, _pending = await asyncio.wait([queued], timeout=5)
        assert not done, "aiokafka delivered the queued message: drop TopicTrackingProducer"
    finally:
        # stop() would wait forever for the stranded message; tracking its topic releases it.
        scenario.producer.client.add_topic(scenario.known_topic)
        await asyncio.wait_for(queued, 15)
        await scenario.producer.stop()

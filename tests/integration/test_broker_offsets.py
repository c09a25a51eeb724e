"""The broker's answer to "where does this partition end", which faust's table recovery reads up
to: Tansu 0.6.0 answers one past the first record of the last batch, so the worker produces one
record per batch there (found by the kill loop: a task kept in such a batch was never recovered)."""

import asyncio
import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from events.admin import lists_batch_starts_as_ends
from tests.support.deployment import Deployment
from workers.stream.app import create_app

pytestmark = pytest.mark.broker

ON_TANSU = os.environ.get("GVI_TEST_BROKER", "tansu") == "tansu"


async def _end_after_one_batch(bootstrap: str, topic: str, max_batch_size: int) -> int:
    """Produce three records at once (one batch unless `max_batch_size` splits them); the
    partition's end as the broker lists it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=max_batch_size
    )
    await producer.start()
    try:
        sends = [await producer.send(topic, f"record {n}".encode(), key=b"k") for n in range(3)]
        assert [sent.offset for sent in await asyncio.gather(*sends)] == [0, 1, 2]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([partition]))[partition])
    finally:
        await consumer.stop()


def test_the_listed_end_of_a_partition_after_one_batch_of_three(deployment: Deployment) -> None:
    batched = asyncio.run(_end_after_one_batch(deployment.bootstrap, deployment.topic("b3"), 16384))
    single = asyncio.run(_end_after_one_batch(deployment.bootstrap, deployment.topic("b1"), 1))
    assert single == 3, "one record per batch: every broker lists the true end"
    if ON_TANSU:
        # Canary: when Tansu lists 3 here, its defect is fixed and the workaround can go.
        assert batched == 1, f"Tansu now lists the end after a batch of three as {batched}"
    else:
        assert batched == 3


def test_the_worker_produces_one_record_per_batch_exactly_on_tansu(
    deployment: Deployment,
) -> None:
    assert asyncio.run(lists_batch_starts_as_ends(deployment.bootstrap)) is ON_TANSU
    settings = deployment.settings.model_copy(update={"single_record_batches": True})
    app, _runtime = create_app(settings)
    assert app.conf.producer_max_batch_size == 1
    worker = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready")
    said = "every record is produced in a batch of its own" in worker.log()
    assert said is ON_TANSU

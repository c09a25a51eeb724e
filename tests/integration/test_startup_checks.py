"""A worker refuses to start on topics that do not fit its settings, and says why."""

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.deployment import Deployment
from workers.stream.worker import EXIT_CONFIG

pytestmark = pytest.mark.broker


async def _create(bootstrap: str, topics: list[NewTopic]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(topics)
    finally:
        await admin.close()


@pytest.mark.parametrize(
    ("suffix", "partitions"), [("incidents", 2), ("task-updates.kronofogden", 8)]
)
def test_a_topic_with_another_partition_count_is_refused_at_start(
    deployment: Deployment, suffix: str, partitions: int
) -> None:
    topic = deployment.topic(suffix)
    asyncio.run(_create(deployment.bootstrap, [NewTopic(topic, partitions, 1)]))
    worker = deployment.start_worker()
    assert worker.process.wait(timeout=90) == EXIT_CONFIG
    log = worker.log()
    assert f"{topic} has {partitions} partition(s), not 4" in log
    assert "worker refuses to start" in log

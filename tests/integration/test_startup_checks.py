"""A worker refuses to start on topics that do not fit its settings, and says why."""

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.codec import encode
from tests.support.deployment import Deployment
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.stream.worker import EXIT_CONFIG

pytestmark = pytest.mark.broker
RECIPIENT = "skatteverket"


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


def test_output_topics_of_four_partitions_are_refused_until_the_setting_says_four(
    deployment: Deployment,
) -> None:
    """A deployment made when every topic had GVI_PARTITIONS partitions: its output topics
    have 4, not the one a worker now makes. The worker names the setting that fits them, and
    with it runs on them: a task reaches its recipient's topic of 4 partitions."""
    topic = deployment.topic(f"tasks.{RECIPIENT}")
    asyncio.run(_create(deployment.bootstrap, [NewTopic(topic, 4, 1)]))
    refused = deployment.start_worker()
    assert refused.process.wait(timeout=90) == EXIT_CONFIG
    log = refused.log()
    assert f"{topic} has 4 partition(s), not 1 (GVI_OUTPUT_PARTITIONS)" in log
    assert "set GVI_OUTPUT_PARTITIONS=4" in log

    deployment.start_worker(output_partitions=4)
    group = notified_group()
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-OUTPUTS-4")
    wanted = {str(t.task_id) for t in expected_tasks(reported, group) if t.recipient == RECIPIENT}
    assert wanted, f"the scenario gives {RECIPIENT} a task"
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    deployment.wait_for(
        f"tasks.{RECIPIENT}", lambda views: {view["task_id"] for view in views} >= wanted
    )
    partitions = asyncio.run(_partitions(deployment.bootstrap, deployment.topic("completion")))
    assert partitions == 4, "the worker made the other output topics with the setting's count"


async def _partitions(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        return len(described[0]["partitions"])
    finally:
        await admin.close()

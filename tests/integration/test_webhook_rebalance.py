"""A webhook replica whose partition moves to another member in a rebalance while it waits on a
slow agency goes on: its refused commit is not fatal, and once the partition comes back every task
reaches the agency, the unconfirmed one again with the same `webhook-id`."""

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.catalogue import build_catalogue
from events.codec import encode
from tests.support.agency_server import Agency, agency_server
from tests.support.deployment import Deployment
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.core.partnerships import policy_for_incident
from workers.core.projection import project_task
from workers.gateway.read_model import ReadModel
from workers.gateway.read_store import Record
from workers.gateway.server import topic_roles
from workers.gateway.webhook_rules import WebhookTarget
from workers.gateway.webhooks import RecipientWebhook, shared_client
from workers.policies import load_policy

pytestmark = pytest.mark.broker
POLICY = load_policy()
RECIPIENT = "skatteverket"
SECRET = "whsec_aW52ZW50ZWQtc2VjcmV0LW9mLXNrYXR0ZXZlcmtldA=="
PARTITIONS = 1
OTHER_MEMBER = "0-another-replica"
"""A client id that sorts before aiokafka's default: the group's round-robin assignor, which
orders members by id (client id first), gives this member the only partition."""


def _views_and_facts() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Skatteverket's views of invented incidents' tasks, and the worker's audit facts of each."""
    views: list[dict[str, Any]] = []
    facts: list[dict[str, Any]] = []
    for number in range(3):
        group = notified_group(f"GRP-IT-REBALANCE-{number}")
        reported = fresh_incident(f"INC-IT-REBALANCE-{number}", group.group_id)
        policy = policy_for_incident(POLICY, reported)
        for task in expected_tasks(reported, group):
            if task.recipient == RECIPIENT:
                views.append(json.loads(encode(project_task(task, reported, group, policy))))
                facts.append(
                    {
                        "task_id": str(task.task_id),
                        "incident_id": task.incident_id,
                        "legal_basis": task.legal_basis,
                        "policy_version": task.policy_version,
                        "rule_id": task.rule_id,
                    }
                )
    return views, facts


async def _published(deployment: Deployment, views: list[dict[str, Any]]) -> None:
    """The recipient's topic with one partition, holding the views."""
    catalogue = build_catalogue(deployment.settings.topic_prefix, PARTITIONS, POLICY.recipient_ids)
    admin = AIOKafkaAdminClient(**deployment.settings.kafka.aiokafka())
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(catalogue.tasks[RECIPIENT].name, PARTITIONS, 1),
                NewTopic(catalogue.gateway_events.name, 1, 1),
            ]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**deployment.settings.kafka.aiokafka())
    await producer.start()
    try:
        for view in views:
            await producer.send_and_wait(
                catalogue.tasks[RECIPIENT].name,
                json.dumps(view).encode(),
                key=str(view["task_id"]).encode(),
            )
    finally:
        await producer.stop()


async def _replicas_deliver_everything(
    deployment: Deployment, agency: Agency, url: str, released: threading.Event, tmp_path: Path
) -> list[str]:
    views, facts = _views_and_facts()
    await _published(deployment, views)
    catalogue = build_catalogue(deployment.settings.topic_prefix, PARTITIONS, POLICY.recipient_ids)
    model = await ReadModel.open(tmp_path / "gateway.sqlite", topic_roles(catalogue))
    await model.apply(
        [Record(catalogue.audit.name, 0, n, fact) for n, fact in enumerate(facts)],
        datetime.now(UTC),
    )
    producer = AIOKafkaProducer(**deployment.settings.kafka.aiokafka(), acks="all")
    await producer.start()
    client = shared_client()

    async def send(topic: str, key: str, value: bytes) -> None:
        await producer.send_and_wait(topic, value, key=key.encode())

    target = WebhookTarget(
        url=f"{url}/{RECIPIENT}",
        secret_env="GVI_TEST_SECRET",
        timeout_seconds=30,
        concurrency=1,
        max_attempts=2,
    )

    def replica() -> RecipientWebhook:
        return RecipientWebhook(
            RECIPIENT, target, SECRET, client, send, model, catalogue.gateway_events.name
        )

    group_id = f"{deployment.settings.app_id}-webhook-{RECIPIENT}"
    topic = catalogue.tasks[RECIPIENT].name
    runs: list[asyncio.Task[None]] = []
    try:
        first = asyncio.create_task(replica().run(deployment.settings.kafka, topic, group_id))
        runs.append(first)
        await _until(lambda: _arrived(agency) >= 1, "the replica's first push")
        # The replica waits on the agency. Another member joins and the rebalance gives it the
        # partition; the replica's commit after that push is refused.
        other = AIOKafkaConsumer(
            topic,
            **deployment.settings.kafka.aiokafka(),
            group_id=group_id,
            client_id=OTHER_MEMBER,
            enable_auto_commit=False,
            heartbeat_interval_ms=500,
        )
        await other.start()
        try:
            while TopicPartition(topic, 0) not in other.assignment():
                await other.getmany(timeout_ms=200)
            released.set()
            await asyncio.sleep(2.0)  # the replica's refused commit, before the partition returns
            assert not first.done(), f"the replica's webhook ended: {first.exception()!r}"
        finally:
            await other.stop()  # leaves the group: the partition goes back to the replica
        wanted = {str(view["task_id"]) for view in views}
        await _until(lambda: wanted <= _delivered(agency), "every task pushed")
        await asyncio.sleep(1.0)
        assert not first.done(), f"the replica's webhook ended: {first.exception()!r}"
        return sorted(wanted)
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await client.aclose()
        await producer.stop()
        await model.close()


async def _until(condition: Callable[[], bool], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


def _arrived(agency: Agency) -> int:
    """Requests that reached the agency, answered or not yet."""
    with agency.lock:
        return agency.counts.get(f"/{RECIPIENT}", 0)


def _delivered(agency: Agency) -> set[str]:
    return {json.loads(r.body)["data"]["task_id"] for r in agency.delivered(f"/{RECIPIENT}")}


def test_a_replica_that_loses_its_partition_mid_push_goes_on_and_nothing_is_lost(
    deployment: Deployment, tmp_path: Path
) -> None:
    released = threading.Event()

    def answer(number: int, path: str) -> tuple[int, dict[str, str], float]:
        if number == 1:
            assert released.wait(60), "the test never let the first push through"
        return 204, {}, 0.0

    agency = Agency({f"/{RECIPIENT}": answer})
    with agency_server(agency) as url:
        wanted = asyncio.run(
            _replicas_deliver_everything(deployment, agency, url, released, tmp_path)
        )
    assert len(wanted) >= 3, "the scenario gives the replica more than one batch window"
    pushed = agency.delivered(f"/{RECIPIENT}")
    assert {json.loads(r.body)["data"]["task_id"] for r in pushed} == set(wanted)
    first_push = [r for r in pushed if r.number == 1]
    assert first_push, "the push that waited for the rebalance was answered"
    again = [r for r in pushed if r.headers["webhook-id"] == first_push[0].headers["webhook-id"]]
    assert len(again) == 2, "its commit was refused, so it is pushed again, with the same id"

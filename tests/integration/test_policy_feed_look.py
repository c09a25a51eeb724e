"""The worker's look at `gvi.policies` for a fresh report is answered at once: no fetch of the
feed holds the broker connection between looks (the broker answers one request per connection
at a time, so a held fetch used to delay every fresh report by up to its wait), and a version
published between looks is still read at the next one."""

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.codec import encode
from schemas.playbook import PublishedPlaybook
from tests.support.deployment import Deployment
from workers.core.partnerships import PolicyBook
from workers.policies import load_policy
from workers.stream.policy_feed import PolicyFeed
from workers.tools.kafka_clients import publish

pytestmark = pytest.mark.broker
POLICY = load_policy()
HELD_FETCH_MS = 20_000
"""Far beyond the feed's wait limit: a look that waited behind such a fetch never confirms."""
WAIT_LIMIT_SECONDS = 8.0


def _published(version: str) -> bytes:
    document = yaml.safe_load(
        resources.files("workers.policies").joinpath("default.yaml").read_text("utf-8")
    )
    document["policy_version"] = version
    text = yaml.safe_dump(document, allow_unicode=True)
    now = datetime.now(UTC)
    return encode(
        PublishedPlaybook(
            policy_version=version,
            effective_from=now - timedelta(days=1),
            published_at=now,
            published_by="integration test (invented)",
            digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            text=text,
        )
    )


async def _looks(deployment: Deployment, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    book = PolicyBook(POLICY)
    feed = PolicyFeed(
        deployment.settings.kafka,
        topic,
        book,
        frozenset(POLICY.recipient_ids),
        wait_limit_seconds=WAIT_LIMIT_SECONDS,
        fetch_max_wait_ms=HELD_FETCH_MS,
    )
    reader = asyncio.create_task(feed.run())
    try:
        await feed.knows(None)
        assert feed.confirmed_at is not None, "the feed read the topic once after its start"
        await asyncio.sleep(0.5)  # long enough for a fetch to be sent and held, if any is

        report = datetime.now(UTC)
        await feed.current_at(report)
        assert feed.confirmed_at is not None and feed.confirmed_at >= report, (
            "the look after a fresh report was not answered within the wait limit"
        )

        await publish(
            deployment.settings.kafka, topic, [("2027.03-look", _published("2027.03-look"))]
        )
        report = datetime.now(UTC)
        await feed.current_at(report)
        assert feed.confirmed_at is not None and feed.confirmed_at >= report
        assert book.effective("2027.03-look") is not None, (
            "a version published between looks is read at the next one"
        )
        assert not reader.done(), f"the feed's reader ended: {reader!r}"
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def test_a_fresh_report_is_confirmed_without_waiting_for_a_held_fetch(
    deployment: Deployment,
) -> None:
    asyncio.run(_looks(deployment, deployment.topic("policies-look")))

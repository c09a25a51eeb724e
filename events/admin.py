"""Creates the catalogue's topics on the broker before a worker starts (idempotent)."""

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from events.catalogue import Catalogue, CleanupPolicy


async def ensure_topics(
    bootstrap_servers: str, catalogue: Catalogue, replication: int
) -> list[str]:
    """Create every catalogue topic that does not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication,
                topic_configs={"cleanup.policy": spec.cleanup.value}
                if spec.cleanup is CleanupPolicy.COMPACT
                else {},
            )
            for spec in catalogue.all()
            if spec.name not in existing
        ]
        if not wanted:
            return []
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(wanted)
        return [topic.name for topic in wanted]
    finally:
        await admin.close()

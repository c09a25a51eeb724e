"""Creates the catalogue's topics before a worker starts and checks those that already exist."""

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from events.catalogue import Catalogue, CleanupPolicy, TopicSpec
from events.connection import (
    EXIT_AUTHORISATION,
    KafkaAccessRefused,
    KafkaConnection,
    connection_of,
)


@dataclass(frozen=True)
class ExpectedTopic:
    """A topic the worker uses: its name, partition count and cleanup policy."""

    name: str
    partitions: int
    cleanup: CleanupPolicy
    kept_for_ever: bool = False
    """The audit stream: no time limit (retention.ms=-1); docs/operations.md on its backup."""
    counted_by: str = "GVI_PARTITIONS"
    """The setting that gives its partition count, for the operator told of another count."""

    @classmethod
    def of(cls, spec: TopicSpec, kept_for_ever: bool = False) -> "ExpectedTopic":
        return cls(spec.name, spec.partitions, spec.cleanup, kept_for_ever, spec.counted_by)


class TopicsUnusable(RuntimeError):
    """Existing topics that the worker cannot work on correctly; it refuses to start."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"{len(problems)} topic(s) do not fit this worker's settings:\n  "
            + "\n  ".join(problems)
        )


class TopicsMissing(TopicsUnusable):
    """Topics that do not exist (yet): a process that does not own them waits for them."""


def expected_topics(catalogue: Catalogue, changelogs: Sequence[str]) -> list[ExpectedTopic]:
    """Every topic of the catalogue, plus faust's table changelogs (compacted, co-partitioned)."""
    count = catalogue.incidents.partitions  # every topic that keys state has this count
    return [ExpectedTopic.of(spec, spec is catalogue.audit) for spec in catalogue.all()] + [
        ExpectedTopic(name, count, CleanupPolicy.COMPACT) for name in changelogs
    ]


def topic_configs(topic: ExpectedTopic, min_insync_replicas: int) -> dict[str, str]:
    """The configs a topic is created with: its cleanup policy and how many replicas must hold
    a write before it is acknowledged (the project produces with acks=all)."""
    configs = {
        "cleanup.policy": topic.cleanup.value,
        "min.insync.replicas": str(min_insync_replicas),
    }
    if topic.kept_for_ever:
        configs["retention.ms"] = "-1"
    return configs


async def _create(
    admin: AIOKafkaAdminClient,
    topics: Sequence[ExpectedTopic],
    replication: int,
    min_insync_replicas: int = 1,
) -> None:
    if not topics:
        return
    with contextlib.suppress(TopicAlreadyExistsError):
        await admin.create_topics(
            [
                NewTopic(
                    name=topic.name,
                    num_partitions=topic.partitions,
                    replication_factor=replication,
                    topic_configs=topic_configs(topic, min_insync_replicas),
                )
                for topic in topics
            ]
        )


def problems_of(
    expected: Sequence[ExpectedTopic],
    partitions: dict[str, int],
    cleanups: dict[str, set[str]],
) -> list[str]:
    """What is wrong with the existing topics, one line each, for the operator to fix."""
    problems = []
    for topic in expected:
        found = partitions.get(topic.name)
        if found is not None and found != topic.partitions:
            problems.append(_partition_problem(topic, found))
        policy = cleanups.get(topic.name)
        if policy is None:
            continue
        if topic.cleanup is CleanupPolicy.COMPACT and "compact" not in policy:
            problems.append(
                f"{topic.name} has cleanup.policy={','.join(sorted(policy))}; it must be "
                "compacted (cleanup.policy=compact), or its records expire"
            )
        if topic.cleanup is CleanupPolicy.DELETE and "compact" in policy:
            problems.append(
                f"{topic.name} has cleanup.policy={','.join(sorted(policy))}; compaction "
                "would drop messages with the same key (use cleanup.policy=delete)"
            )
    return problems


def _partition_problem(topic: ExpectedTopic, found: int) -> str:
    said = f"{topic.name} has {found} partition(s), not {topic.partitions}"
    if topic.counted_by == "GVI_PARTITIONS":
        return (
            f"{said} (GVI_PARTITIONS): every topic that keys state must have the same count, so "
            "that each key's state lives in one partition; recreate it, or set GVI_PARTITIONS"
        )
    if topic.counted_by:
        return (
            f"{said} ({topic.counted_by}): the output topics of a deployment have one count, "
            f"which every worker and gateway must know (a gateway's cursors name the "
            f"partitions); set {topic.counted_by}={found} if all of them have {found}"
        )
    return f"{said}: every worker must read it in one order; recreate it with {topic.partitions}"


def _admin(kafka: KafkaConnection | str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_of(kafka).aiokafka(), request_timeout_ms=30000)


async def broker_is_tansu(kafka: KafkaConnection | str) -> bool:
    """True when the broker is Tansu (cluster id `tansu...`), False when the broker does not
    say. Tansu 0.6.0's ListOffsets (latest) answers one past the *first* record of a
    partition's last record batch, not one past its last record (`tests/integration/
    test_broker_offsets.py`), so the worker produces one record per batch; and it can store a
    record after the ones behind it, so readers hold at gaps (`workers.faust_fixes.
    late_writes`)."""
    admin = _admin(kafka)
    await admin.start()
    try:
        described = await admin.describe_cluster()
    except KafkaError:
        return False
    finally:
        await admin.close()
    return str(described.get("cluster_id") or "").startswith("tansu")


async def ensure_topics(
    kafka: KafkaConnection | str,
    catalogue: Catalogue,
    replication: int,
    changelogs: Sequence[str] = (),
    ready_within: float = 60.0,
    min_insync_replicas: int = 1,
) -> list[str]:
    """Check the existing topics (raises TopicsUnusable), create the missing ones, faust's table
    changelogs among them, and wait until every one shows all its partitions with a leader, so
    that no agent ever reads a topic just created as one without partitions; returns the names
    created."""
    expected = expected_topics(catalogue, changelogs)
    admin = _admin(kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [topic for topic in expected if topic.name in existing]
        partitions = await _partition_counts(admin, [topic.name for topic in present])
        cleanups = await _cleanup_policies(admin, [topic.name for topic in present])
        problems = problems_of(present, partitions, cleanups)
        if problems:
            raise TopicsUnusable(problems)
        wanted = [topic for topic in expected if topic.name not in existing]
        await _create(admin, wanted, replication, min_insync_replicas)
        # Described only once created: Tansu creates a topic that a metadata request names,
        # with its own partition count (4), whatever the catalogue says (gvi.policies has 1).
        await _require_described(admin, [topic.name for topic in expected], kafka)
        await _await_leaders(
            admin, {topic.name: topic.partitions for topic in expected}, ready_within
        )
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


async def await_topics(
    kafka: KafkaConnection | str, topics: Sequence[TopicSpec], within: float = 120.0
) -> None:
    """For a process that uses topics but does not own them (the gateway): wait until the
    worker (or the operator's topics job) has created every one, then check them (raises
    TopicsUnusable, or KafkaAccessRefused when the ACLs do not let it see them)."""
    expected = [ExpectedTopic.of(spec) for spec in topics]
    admin = _admin(kafka)
    await admin.start()
    try:
        # Listed before they are described: a metadata request that names a missing topic
        # makes Tansu (and a broker with auto.create.topics.enable) create it, with its own
        # partition count, and the gateway would start on topics no worker made.
        deadline = time.monotonic() + within
        while missing := sorted({t.name for t in expected} - set(await admin.list_topics())):
            if time.monotonic() >= deadline:
                raise TopicsMissing(
                    [
                        f"topics not there: {missing[:5]}; is the worker set up? (or the ACLs "
                        "do not let this principal see them: gvi-sanctions acls --apply)"
                    ]
                )
            await asyncio.sleep(0.25)
        await _require_described(admin, [topic.name for topic in expected], kafka)
        try:
            await _await_leaders(admin, {t.name: t.partitions for t in expected}, within)
        except TimeoutError as leaderless:
            raise TopicsMissing([f"{leaderless}; is the worker set up?"]) from None
        partitions = await _partition_counts(admin, [topic.name for topic in expected])
        cleanups = await _cleanup_policies(admin, [topic.name for topic in expected])
        problems = problems_of(expected, partitions, cleanups)
        if problems:
            raise TopicsUnusable(problems)
    finally:
        await admin.close()


async def _require_described(
    admin: AIOKafkaAdminClient, names: list[str], kafka: KafkaConnection | str
) -> None:
    """Raise KafkaAccessRefused when the principal may not even describe one of its topics
    (the ACLs were not applied): the worker would wait on them for ever."""
    refused = [
        topic["topic"]
        for topic in await admin.describe_topics(names)
        if topic.get("error_code", 0) == 29  # TOPIC_AUTHORIZATION_FAILED
    ]
    if refused:
        who = connection_of(kafka).who
        raise KafkaAccessRefused(
            f"Kafka refuses {who} access to {len(refused)} topic(s), e.g. {refused[0]}: apply "
            "the ACLs (gvi-sanctions acls --apply) or check GVI_KAFKA_SASL_USERNAME",
            EXIT_AUTHORISATION,
        )


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    described = await admin.describe_topics(names)
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in described
        if topic.get("error_code", 0) == 0
    }


async def _cleanup_policies(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, set[str]]:
    """Each topic's cleanup.policy; empty where the broker does not answer DescribeConfigs."""
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    try:
        responses = await admin.describe_configs(resources)
    except KafkaError:
        return {}
    policies: dict[str, set[str]] = {}
    for response in responses:
        for resource in response.to_object().get("resources", []):
            for entry in resource.get("config_entries", []):
                if entry.get("config_names") == "cleanup.policy" and entry.get("config_value"):
                    policies[resource["resource_name"]] = set(entry["config_value"].split(","))
    return policies


async def _await_leaders(admin: AIOKafkaAdminClient, wanted: dict[str, int], within: float) -> None:
    """Wait until each topic shows its partitions, each with a leader: a topic just created can
    show none for a moment, and a worker must never take that for its partition count."""
    deadline = time.monotonic() + within
    while True:
        described = await admin.describe_topics(list(wanted))
        ready = {
            topic["topic"]
            for topic in described
            if topic.get("error_code", 0) == 0
            and len(topic["partitions"]) == wanted.get(topic["topic"], -1)
            and all(p.get("leader", -1) >= 0 for p in topic["partitions"])
        }
        missing = sorted(set(wanted) - ready)
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"topics without all their partitions or leaders: {missing[:5]}")
        await asyncio.sleep(0.25)


async def recreate_missing(
    kafka: KafkaConnection | str, catalogue: Catalogue, replication: int
) -> list[str]:
    """Create the catalogue topics that have gone missing (deleted under a running worker);
    returns their names. Checks nothing else: the worker checked the topics at its start."""
    admin = _admin(kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in expected_topics(catalogue, ()) if topic.name not in existing]
        await _create(admin, missing, replication)
        return [topic.name for topic in missing]
    finally:
        await admin.close()

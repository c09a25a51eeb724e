"""The faust-streaming app factory: catalogue topics, tables, explicit agent registration."""

from collections.abc import Callable, Iterable
from typing import Any

import faust
from faust import SASLCredentials, SSLCredentials

from events.catalogue import CleanupPolicy
from events.connection import KafkaConnection
from events.partitioning import key_partitioner
from workers.certificates import expose_certificate_expiries
from workers.core.partnerships import PolicyBook
from workers.core.policy import Policy
from workers.faust_fixes import require_pinned_versions, unreadable_batches
from workers.faust_fixes.prompt_tables import PromptTableManager
from workers.faust_fixes.rebalance_safety import SafeApp
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream import batches, runner, web
from workers.stream.agents import (
    completion,
    deadlines,
    gateway_events,
    intake,
    planning,
    tasks,
)
from workers.stream.changelog import Changelog
from workers.stream.metrics import CommittedOffsets, WorkerMetrics
from workers.stream.policy_feed import PolicyFeed
from workers.stream.runtime import Runtime
from workers.stream.watchdogs import partitions as partition_watchdog
from workers.stream.watchdogs import recovery as recovery_watchdog
from workers.stream.watchdogs import stuck_events

AGENTS = (intake, planning, tasks, completion, gateway_events)
"""The stages' agents, in the incident's order (each registered by `runner.register`)."""
TABLES = (
    "incidents",
    "groups",
    "group-plans",
    "incident-plans",
    "parked-incidents",
    "tasks",
    "parked-updates",
    "incident-progress",
)


PRODUCER_BATCH_BYTES = 512 * 1024
"""Largest record batch per partition the producer builds (below the broker's 1 MB limit)."""


def faust_credentials(kafka: KafkaConnection) -> Any:
    """faust's `broker_credentials` for the connection settings (None: plaintext)."""
    context = kafka.ssl_context()
    if kafka.security_protocol.uses_sasl:
        return SASLCredentials(
            username=kafka.username,
            password=kafka.password,
            ssl_context=context,
            mechanism=kafka.sasl_mechanism.value,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def changelog_topics(app_id: str) -> list[str]:
    """faust's changelog topic of every table of the worker."""
    return [f"{app_id}-{table}-changelog" for table in TABLES]


class CountedTable(faust.Table[Any, Any]):
    """A table that counts the changelog records it applies: on recovery, and as a standby.
    With RocksDB a restarted worker applies only what its files do not hold yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.count_applied: Callable[[float], None] = lambda count: None

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        self.count_applied(len(events))


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """Bounded RocksDB options for one table partition (faust opens one database per table
    and partition, and its defaults take a 2 GiB block cache and 3 x 64 MiB memtables each);
    docs/operations.md gives the memory they imply. A new dict each call: faust's store pops
    keys from the one it is given."""
    mib = 1024 * 1024
    return {
        "driver": "rocksdict",
        "block_cache_size": settings.rocksdb_block_cache_mib * mib,
        "write_buffer_size": settings.rocksdb_write_buffer_mib * mib,
        "max_write_buffer_number": settings.rocksdb_write_buffers,
        "target_file_size_base": settings.rocksdb_write_buffer_mib * mib,
        "max_open_files": settings.rocksdb_max_open_files,
    }


def create_app(settings: Settings, policy: Policy | None = None) -> tuple[Any, Runtime]:
    """A configured faust app with every agent registered, and the runtime the agents share."""
    if settings.broker_url is None:
        raise ValueError("create_app needs a broker URL; the CLI starts the embedded broker")
    require_pinned_versions()
    unreadable_batches.install()
    policy = policy or load_policy(settings.policy_path)
    catalogue = settings.catalogue(policy.recipient_ids)
    app = faust_app(settings)
    topics = {
        spec.name: app.topic(
            spec.name,
            key_serializer="raw",
            value_serializer="raw",
            partitions=spec.partitions,
            replicas=settings.replication_factor,
            compacting=spec.cleanup is CleanupPolicy.COMPACT,
        )
        for spec in catalogue.all()
    }
    runtime_metrics = WorkerMetrics()
    expose_certificate_expiries(runtime_metrics.registry, settings)
    tables = faust_tables(app, settings, runtime_metrics)
    book = PolicyBook(policy)
    feed = PolicyFeed(
        settings.kafka, catalogue.policies.name, book, frozenset(policy.recipient_ids)
    )
    runtime = Runtime(
        metrics=runtime_metrics,
        settings=settings,
        policies=book,
        policy_feed=feed,
        catalogue=catalogue,
        topics=topics,
        tables=tables,
        app=app,
        table_writer=Changelog(app),
    )
    app.background(feed.run)  # from the start: intake waits for it before its first incident
    for agent in AGENTS:
        runner.register(app, runtime, agent)
    batches.forget_lags_when_revoked(app, runtime)
    deadlines.register(app, runtime)
    web.register(app, runtime)
    recovery_watchdog.register(app, settings.recovery_stall_seconds)
    stuck_events.register(app, settings.stuck_event_seconds, runtime.batches_in_flight)
    partition_watchdog.register(
        app, settings.partition_stall_seconds, runtime.batches_in_flight, runtime.handled.runs
    )
    return app, runtime


def faust_app(settings: Settings) -> Any:
    """The faust app: the store, the group's timeouts, at-least-once, the web port's pages."""
    session_timeout = settings.rebalance_timeout_seconds
    data_dir = settings.data_dir / settings.app_id
    data_dir.mkdir(parents=True, exist_ok=True)
    return SafeApp(
        settings.app_id,
        broker=settings.broker_url,
        store=settings.table_store,
        autodiscover=False,
        datadir=str(data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # run_worker creates every topic, changelogs included, and checks their partitions and
        # cleanup policies before faust starts; faust's own declaration sent one CreateTopics
        # per table, twice, at every start (0.2 s), and no timer needs faust's leader topic.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        TableManager=PromptTableManager,
        producer_partitioner=key_partitioner,
        producer_acks=-1,
        broker_rebalance_timeout=session_timeout,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=max(session_timeout / 6, 0.5),
        broker_commit_interval=1.0,
        web_enabled=settings.web_enabled,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        # The port serves /metrics, /healthz and /readyz only: faust's table and router pages
        # would show any table's records (narratives, member refs) to whoever asks.
        web_tables_enabled=False,
        web_router_enabled=False,
        broker_credentials=faust_credentials(settings.kafka),
        table_standby_replicas=settings.standby_replicas,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        # One produce request in flight per broker (aiokafka): a batch's outputs go out in as
        # few requests as the batch size allows; 16 KiB (the default) took one round trip per
        # 16 KiB of a partition. Tansu needs one record per batch (the setting's description).
        producer_max_batch_size=1 if settings.single_record_batches else PRODUCER_BATCH_BYTES,
        # The check guards a RocksDB file against a changelog emptied under it. With the memory
        # store, offsets carried from standby to active reading once stood one above a highwater
        # read a moment later (195 > 194, Tansu, kill loop in CI), and both survivors crashed
        # in recovery; the memory store has no file to protect.
        recovery_consistency_check=settings.table_store.startswith("rocksdb"),
        Table=CountedTable,
        Monitor=CommittedOffsets,
    )


def faust_tables(app: Any, settings: Settings, metrics: WorkerMetrics) -> dict[str, Any]:
    """Every table, raw bytes per key, each counting the changelog records it applies."""
    rocksdb = settings.table_store.startswith("rocksdb")
    tables = {
        name: app.Table(
            name,
            default=None,
            partitions=settings.partitions,
            value_type=bytes,  # a record's JSON bytes, also when recovered (stream/stores.py)
            options=rocksdb_options(settings) if rocksdb else None,
        )
        for name in TABLES
    }
    for name, table in tables.items():
        assert isinstance(table, CountedTable)
        table.count_applied = metrics.changelog_applied.labels(name).inc
    return tables

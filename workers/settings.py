"""The one settings class of gvi-sanctions, read from `GVI_`-prefixed environment variables."""

import os
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, create_model, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from events.catalogue import OUTPUT_PARTITIONS, Catalogue, build_catalogue
from events.connection import KafkaConnection, SaslMechanism, SecurityProtocol


class EventLoop(StrEnum):
    """The worker's asyncio event loop: uvloop's (libuv, in C), or the standard library's."""

    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


class LogFormat(StrEnum):
    """How log lines are written: JSON when not on a terminal, unless told otherwise."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


SECRETS_DIR = "GVI_SECRETS_DIR"
"""The variable naming a folder with one file per secret setting (a mounted Secret)."""


class SecretsFolderMissing(ValueError):
    """`GVI_SECRETS_DIR` names no folder: every secret in it would silently be missing."""


class _FromSecretFiles(BaseSettings):
    """Settings read from the environment, then from one file per setting in the folder that
    `GVI_SECRETS_DIR` names, the file named as the variable (e.g. `GVI_KAFKA_SASL_PASSWORD`):
    pydantic-settings' own secrets source, so that no secret has to be in the environment of a
    process, where its children, crash reports and `/proc/<pid>/environ` can read it."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        folder = os.environ.get(SECRETS_DIR)
        if not folder:
            return init_settings, env_settings, dotenv_settings, file_secret_settings
        if not Path(folder).is_dir():
            raise SecretsFolderMissing(f"{SECRETS_DIR}={folder} is not a folder")
        files = SecretsSettingsSource(settings_cls, secrets_dir=folder)
        return init_settings, env_settings, dotenv_settings, files


class Settings(_FromSecretFiles):
    """Everything a worker needs to know; frozen once read."""

    model_config = SettingsConfigDict(env_prefix="GVI_", frozen=True, extra="forbid")

    broker_url: str | None = Field(
        default=None,
        description="kafka://host:port[;host:port]; unset: the CLI starts the embedded broker",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default=SecurityProtocol.PLAINTEXT,
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; production: SASL_SSL or SSL",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default=SaslMechanism.SCRAM_SHA_512, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = Field(
        default=None, max_length=256, description="this process's SASL user (its Kafka principal)"
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="its SASL password; never logged"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="the CA that signed the brokers' certificates; unset: system CAs"
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="a client certificate (PEM), for mutual TLS"
    )
    kafka_ssl_keyfile: Path | None = Field(default=None, description="its private key (PEM)")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="the password of GVI_KAFKA_SSL_KEYFILE, when it has one"
    )
    secrets_dir: Path | None = Field(
        default=None,
        description="a folder with one file per secret setting, named as its variable (e.g. "
        "GVI_KAFKA_SASL_PASSWORD): read when the variable itself is unset",
    )
    secrets_watch_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="a running worker or gateway compares the files of GVI_SECRETS_DIR and "
        "GVI_KAFKA_SSL_* with those it started with this often; on a change it stops "
        "gracefully with exit 75, for its supervisor to start it with the new ones (0: never)",
    )
    secrets_restart_spread_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="at most this long, at random, between seeing a changed secret file and "
        "stopping: replicas that see one change together do not all stop together",
    )
    acl_worker_principal: str = Field(
        default="User:gvi-worker", pattern=r"^User:.+", description="the workers' Kafka principal"
    )
    acl_gateway_principal: str = Field(
        default="User:gvi-gateway", pattern=r"^User:.+", description="the gateways' Kafka principal"
    )
    acl_police_principal: str = Field(
        default="User:police",
        pattern=r"^User:.+",
        description="the police systems' principal (writes incidents and group profiles)",
    )
    acl_agency_principal: str = Field(
        default="User:{recipient}",
        pattern=r"^User:.*\{recipient\}",
        description="each agency's principal; {recipient} is its recipient id",
    )
    acl_supervisor_principal: str = Field(
        default="User:gvi-supervisor",
        pattern=r"^User:.+",
        description="the supervisors' principal (reads completion, escalations, audit)",
    )
    acl_evaluator_principal: str = Field(
        default="User:gvi-evaluator",
        pattern=r"^User:.+",
        description="the evaluators' principal (reads completion, escalations, audit)",
    )
    acl_coordinator_principal: str = Field(
        default="User:gvi-coordinator",
        pattern=r"^User:.+",
        description="the national coordination's principal: publishes playbook versions on "
        "gvi.policies (`policy publish`)",
    )
    topic_prefix: str = Field(
        default="gvi.",
        pattern=r"^[A-Za-z0-9._\-]*$",
        max_length=100,
        description="the prefix of every topic name (gvi.incidents, ...)",
    )
    app_id: str = Field(
        default="gvi-sanctions",
        pattern=r"^[A-Za-z0-9._\-]+$",
        max_length=100,
        description="the workers' consumer group and the prefix of their table changelogs",
    )
    partitions: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="partitions of every topic that keys state: the inputs, the internal "
        "topics and the tables' changelogs (the same for all: state is co-partitioned); the "
        "most workers that can share the load",
    )
    output_partitions: int = Field(
        default=OUTPUT_PARTITIONS,
        ge=1,
        le=1000,
        description="partitions of every output topic (tasks per recipient, completion, "
        "escalations, audit, rejected): nothing is co-partitioned with them, and one is "
        "cheapest to write; more spread one recipient's webhook deliveries over gateway "
        "replicas. Every worker and gateway of a deployment must have the same",
    )
    replication_factor: int = Field(
        default=1, ge=1, le=10, description="copies of each topic the worker or `topics` creates"
    )
    min_insync_replicas: int = Field(
        default=1,
        ge=1,
        le=10,
        description="min.insync.replicas of the topics `topics` creates; production: 2 with "
        "replication 3",
    )
    table_store: str = Field(
        default="memory://",
        pattern=r"^(memory|rocksdb)://",
        description="memory:// (state rebuilt from the changelogs at every start) or rocksdb:// "
        "(state kept on disk under data_dir)",
    )
    rocksdb_block_cache_mib: int = Field(
        default=4,
        ge=1,
        le=4096,
        description="RocksDB block cache per table partition, MiB (faust's default: 2048)",
    )
    rocksdb_write_buffer_mib: int = Field(
        default=2,
        ge=1,
        le=512,
        description="RocksDB memtable size per table partition, MiB (faust's default: 64)",
    )
    rocksdb_write_buffers: int = Field(
        default=2,
        ge=2,
        le=8,
        description="RocksDB memtables per table partition (faust's default: 3)",
    )
    rocksdb_max_open_files: int = Field(
        default=64,
        ge=16,
        le=100_000,
        description="open SST files per table partition (faust's default: 90% of the "
        "process's limit)",
    )
    standby_replicas: int = Field(default=1, ge=0, le=5, description="standby copies of tables")
    web_enabled: bool = Field(
        default=True, description="serve the worker's /metrics, /healthz and /readyz"
    )
    web_host: str = Field(default="127.0.0.1", description="the address of the worker's web port")
    web_port: int = Field(
        default=6066, ge=1, le=65535, description="the worker's web port (metrics and health only)"
    )
    policy_path: Path | None = Field(default=None, description="unset: the shipped playbook")
    data_dir: Path = Field(
        default=Path(".gvi-data"),
        description="the worker's state folder (RocksDB tables under <data_dir>/<app_id>)",
    )
    rebalance_timeout_seconds: float = Field(
        default=6.0,
        gt=0,
        le=600,
        description="the consumer group's session and rebalance timeout: how soon a dead "
        "worker's partitions move",
    )
    overdue_check_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="how often open tasks are checked for deadlines"
    )
    parked_update_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="a status update for a task not yet known waits this long, then is rejected",
    )
    parked_incident_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="an incident attributed to a group not yet known waits this long for the "
        "group's profile, then is rejected as unknown_group",
    )
    fetch_max_wait_ms: int = Field(
        default=100, ge=0, le=30000, description="longest wait of a fetch for new messages"
    )
    event_loop: EventLoop = Field(
        default=EventLoop.UVLOOP,
        description="the worker's event loop, in its main thread and faust's consumer thread: "
        "uvloop (about 7 % less CPU per incident than asyncio in this machine's catch-ups, "
        "6.6 against 7.1 ms on average, and the same at a steady 100 incidents/s; "
        "docs/benchmarks.md, runs 23 and 24), or the standard library's asyncio",
    )
    batch_max_messages: int = Field(
        default=32,
        ge=1,
        le=500,
        description="most messages an agent handles before it sends their outputs together "
        "and writes their state (1: one message at a time)",
    )
    batch_max_ms: float = Field(
        default=50.0,
        ge=0,
        le=5000,
        description="longest an agent goes on handling the messages already queued before it "
        "sends the batch's outputs",
    )
    downstream_backlog_limit: int = Field(
        default=1000,
        ge=0,
        le=1_000_000,
        description="messages a later stage of an incident's path (planning, the task agent, "
        "completion) may lag behind on this worker's partitions before an earlier stage waits "
        "(at most 1 s per batch), so that state keeps up with the tasks sent (0: never waits)",
    )
    single_record_batches: bool | None = Field(
        default=None,
        description=(
            "produce every record in a batch of its own; unset: on when the broker is Tansu, "
            "which reports a partition's end as one past the first record of its last batch "
            "(a table recovered from its changelog then missed the rest of that batch)"
        ),
    )
    recovery_stall_seconds: float = Field(
        default=30.0,
        ge=5,
        le=3600,
        description="a table recovery that receives nothing this long forces a rebalance",
    )
    partition_stall_seconds: float = Field(
        default=60.0,
        ge=10,
        le=3600,
        description="an assigned partition left unread this long forces a rebalance",
    )
    stuck_event_seconds: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description=(
            "an agent holding one batch this long is logged with what it awaits; twice as "
            "long stops the worker"
        ),
    )
    gateway_host: str = Field(default="127.0.0.1", description="the gateway's HTTP address")
    gateway_port: int = Field(default=8080, ge=1, le=65535, description="the gateway's HTTP port")
    credentials_file: Path = Field(
        default=Path(".gvi-data/credentials.json"),
        description="the gateway's callers: token ids, roles and SHA-256 hashes, never tokens",
    )
    gateway_store: Path | None = Field(
        default=None, description="the gateway's SQLite read model; unset: under data_dir"
    )
    gateway_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="a request's line and headers must arrive whole within this time",
    )
    gateway_keepalive_seconds: float = Field(
        default=5.0, gt=0, le=300, description="an idle connection between requests is closed"
    )
    gateway_max_connections: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="connections and requests served at once; more are answered 503",
    )
    gateway_retention_days: float = Field(
        default=180,
        gt=0,
        le=3650,
        description="the gateway forgets an incident's tasks, snapshot and escalations this "
        "many days after the incident closed (done or cancelled)",
    )
    gateway_session_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="signs the dashboard's session cookies; the same on every replica, so a "
        "login works on each and survives restarts; unset: a key kept beside the read model",
    )
    gateway_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve the gateway's /metrics on this port (same host) instead of the API's",
    )
    gateway_metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="a bearer token /metrics asks for (Prometheus: authorization credentials); "
        "unset: /metrics answers anyone who reaches its port",
    )
    webhooks_file: Path | None = Field(
        default=None, description="YAML: per recipient, the webhook the gateway pushes tasks to"
    )
    max_body_bytes: int = Field(
        default=262_144, ge=1024, le=1_000_000, description="largest request body the API reads"
    )
    log_level: str = Field(
        default="info",
        pattern=r"^(debug|info|warning|error)$",
        description="debug, info, warning or error",
    )
    log_format: LogFormat = Field(
        default=LogFormat.AUTO,
        description="json, console, or auto (JSON when not on a terminal)",
    )

    @model_validator(mode="after")
    def _credentials_fit_the_protocol(self) -> "Settings":
        protocol = self.kafka_security_protocol
        if protocol.uses_sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"GVI_KAFKA_SECURITY_PROTOCOL={protocol.value} needs GVI_KAFKA_SASL_USERNAME "
                "and GVI_KAFKA_SASL_PASSWORD"
            )
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"GVI_MIN_INSYNC_REPLICAS={self.min_insync_replicas} is more than "
                f"GVI_REPLICATION_FACTOR={self.replication_factor}: no write could be acknowledged"
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("GVI_KAFKA_SSL_CERTFILE and GVI_KAFKA_SSL_KEYFILE go together")
        tls_files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile)
        if not protocol.uses_tls and any(path is not None for path in tls_files):
            raise ValueError(
                f"TLS files are set but GVI_KAFKA_SECURITY_PROTOCOL={protocol.value} does not "
                "use TLS (SSL or SASL_SSL)"
            )
        return self

    @property
    def kafka(self) -> KafkaConnection:
        """How every Kafka client of this process connects (DESIGN §9)."""
        return KafkaConnection(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=_revealed(self.kafka_sasl_password),
            ca_file=self.kafka_ssl_cafile,
            cert_file=self.kafka_ssl_certfile,
            key_file=self.kafka_ssl_keyfile,
            key_password=_revealed(self.kafka_ssl_key_password),
        )

    def catalogue(self, recipients: Iterable[str]) -> Catalogue:
        """The deployment's topics for the policy's recipients."""
        return build_catalogue(
            self.topic_prefix, self.partitions, recipients, self.output_partitions
        )

    @property
    def bootstrap_servers(self) -> str:
        """The broker URL as aiokafka wants it: `host:port,host:port`."""
        if self.broker_url is None:
            raise ValueError("no broker configured")
        servers = self.broker_url.removeprefix("kafka://").replace(";", ",")
        return ",".join(server.removeprefix("kafka://") for server in servers.split(","))


def _revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


class _NamedSecrets(_FromSecretFiles):
    """Secrets read from environment variables named elsewhere (a webhooks file), or from the
    files of `GVI_SECRETS_DIR` named as those variables."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")


def secrets_named(variables: Iterable[str]) -> dict[str, SecretStr | None]:
    """The value of each named environment variable, read as settings and held as SecretStr
    (None when unset or empty): the webhook signing secrets that the webhooks file names by
    variable (`secret_env`), so that no secret is ever in a file."""
    names = sorted(set(variables))
    fields: dict[str, Any] = {name: (SecretStr | None, None) for name in names}
    model = create_model("NamedSecrets", __base__=_NamedSecrets, **fields)
    read = model().model_dump()
    return {
        name: read[name] if read[name] and read[name].get_secret_value() else None for name in names
    }

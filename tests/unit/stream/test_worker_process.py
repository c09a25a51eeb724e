"""A worker process is configured with every setting of its parent, through `GVI_` variables."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop
from pydantic import SecretStr

from events.connection import SaslMechanism, SecurityProtocol
from workers.settings import EventLoop, LogFormat, Settings
from workers.stream.worker import use_event_loop
from workers.tools.processes import settings_environment


def test_every_setting_survives_the_trip_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("GVI_"):
            monkeypatch.delenv(name)
    chosen = Settings(
        broker_url="kafka://127.0.0.1:9092",
        topic_prefix="it1.",
        app_id="it-app",
        partitions=8,
        output_partitions=3,
        replication_factor=3,
        table_store="rocksdb://",
        standby_replicas=0,
        web_enabled=False,
        web_host="127.0.0.2",
        web_port=16000,
        policy_path=Path("/tmp/policy.yaml"),
        data_dir=Path("/tmp/gvi-data"),
        rebalance_timeout_seconds=9.5,
        overdue_check_seconds=1.5,
        parked_update_seconds=45,
        parked_incident_seconds=90,
        fetch_max_wait_ms=50,
        event_loop=EventLoop.ASYNCIO,
        batch_max_messages=7,
        batch_max_ms=12.5,
        downstream_backlog_limit=250,
        single_record_batches=False,
        recovery_stall_seconds=12,
        stuck_event_seconds=20,
        partition_stall_seconds=45,
        log_level="warning",
        log_format=LogFormat.CONSOLE,
        gateway_host="127.0.0.3",
        gateway_port=18080,
        credentials_file=Path("/tmp/gvi-credentials.json"),
        gateway_store=Path("/tmp/gateway.sqlite"),
        max_body_bytes=4096,
        webhooks_file=Path("/tmp/webhooks.yaml"),
        kafka_security_protocol=SecurityProtocol.SASL_SSL,
        kafka_sasl_mechanism=SaslMechanism.SCRAM_SHA_256,
        kafka_sasl_username="gvi-worker",
        kafka_sasl_password=SecretStr("invented-password-1"),
        kafka_ssl_cafile=Path("/tmp/ca.pem"),
        kafka_ssl_certfile=Path("/tmp/client.pem"),
        kafka_ssl_keyfile=Path("/tmp/client.key"),
        kafka_ssl_key_password=SecretStr("invented-key-password"),
        acl_worker_principal="User:w",
        acl_gateway_principal="User:g",
        acl_police_principal="User:p",
        acl_agency_principal="User:agency-{recipient}",
        acl_supervisor_principal="User:s",
        acl_evaluator_principal="User:e",
        acl_coordinator_principal="User:c",
        gateway_retention_days=30,
        gateway_header_timeout_seconds=3,
        gateway_keepalive_seconds=2,
        gateway_max_connections=50,
        min_insync_replicas=2,
        rocksdb_block_cache_mib=16,
        rocksdb_write_buffer_mib=8,
        rocksdb_write_buffers=3,
        rocksdb_max_open_files=128,
        gateway_session_secret=SecretStr("invented-session-key-" + "s" * 20),
        gateway_metrics_port=19464,
        gateway_metrics_token=SecretStr("invented-metrics-token"),
        secrets_dir=tmp_path,  # an empty folder: every value comes from the environment
        secrets_watch_seconds=7.5,
        secrets_restart_spread_seconds=4,
    )
    unchanged = [
        name
        for name, field in Settings.model_fields.items()
        if getattr(chosen, name) == field.default
    ]
    assert unchanged == [], "every setting must differ from its default, or the trip proves nothing"
    for name, value in settings_environment(chosen).items():
        monkeypatch.setenv(name, value)
    assert Settings() == chosen
    assert Settings().kafka.password == "invented-password-1", "the secret itself travels"


def test_unset_settings_are_left_out() -> None:
    environment = settings_environment(Settings(broker_url=None, policy_path=None))
    assert "GVI_BROKER_URL" not in environment
    assert "GVI_POLICY_PATH" not in environment


@pytest.fixture
def policy_restored() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


@pytest.mark.usefixtures("policy_restored")
def test_the_worker_makes_its_loops_with_the_chosen_event_loop() -> None:
    asyncio.set_event_loop_policy(None)
    use_event_loop(EventLoop.UVLOOP)
    made = asyncio.new_event_loop()
    assert isinstance(made, uvloop.Loop), "faust's consumer thread makes its loop the same way"
    made.close()
    asyncio.set_event_loop_policy(None)
    use_event_loop(EventLoop.ASYNCIO)
    made = asyncio.new_event_loop()
    assert not isinstance(made, uvloop.Loop)
    made.close()

"""Every process over mutual TLS on Apache Kafka: police, the worker, the gateway and an agency
each known by its client certificate alone (no password), with the deployment's ACLs."""

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.secure.conftest import ADMIN, SecureCluster
from tests.secure.processes import cli, worker_and_gateway
from tests.support.gateway_stack import metric_samples
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.certificates import first_expiry, last_expiry
from workers.gateway.credentials import add_token
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.kafka_clients import read_topic

pytestmark = pytest.mark.broker
DEPLOYMENT = {"topic_prefix": "mtls.", "app_id": "mtls-app", "partitions": 1}


@dataclass
class MutualTls:
    """A deployment whose worker and gateway log in by their client certificates."""

    cluster: SecureCluster
    gateway_url: str
    kronofogden_token: str
    worker_url: str

    def settings(self, user: str) -> Settings:
        return self.cluster.mtls_settings(user, **DEPLOYMENT)


@pytest.fixture(scope="module")
def mutual_tls(
    secure_cluster: SecureCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MutualTls]:
    folder: Path = tmp_path_factory.mktemp("mutual-tls")
    admin = secure_cluster.settings(ADMIN, **DEPLOYMENT)
    for step in (("topics", "--apply"), ("acls", "--apply")):
        done = cli(admin, *step)
        assert done.returncode == 0, done.stderr
    worker = secure_cluster.mtls_settings(
        "gvi-worker", **DEPLOYMENT, web_port=free_port(), data_dir=folder / "worker-data"
    )
    credentials = folder / "credentials.json"
    token = add_token(credentials, "agency:kronofogden")
    gateway = secure_cluster.mtls_settings(
        "gvi-gateway",
        **DEPLOYMENT,
        gateway_port=free_port(),
        credentials_file=credentials,
        gateway_store=folder / "gateway.sqlite",
        data_dir=folder / "gateway-data",
    )
    with worker_and_gateway(worker, gateway, folder) as url:
        yield MutualTls(secure_cluster, url, token, f"http://127.0.0.1:{worker.web_port}")


def test_police_the_worker_the_gateway_and_an_agency_work_by_certificate(
    mutual_tls: MutualTls,
) -> None:
    group = notified_group("GRP-MTLS-1")
    police = mutual_tls.settings("police")
    assert police.kafka.password is None and police.kafka.security_protocol.value == "SSL"
    published = cli(police, "publish", "group", "-", stdin=group.model_dump_json())
    assert published.returncode == 0, published.stderr
    reported = fresh_incident("INC-MTLS-1", group.group_id)
    expected = expected_tasks(reported, group)
    mine = {str(t.task_id) for t in expected if t.recipient == "skatteverket"}
    theirs = [str(t.task_id) for t in expected if t.recipient == "kronofogden"]
    assert mine and theirs

    published = cli(police, "publish", "incident", "-", stdin=reported.model_dump_json())
    assert published.returncode == 0, published.stderr

    views: set[str] = set()
    deadline = time.monotonic() + 120
    while views != mine:
        assert time.monotonic() < deadline, f"skatteverket saw {len(views)} of {len(mine)}"
        time.sleep(1)
        records = asyncio.run(
            read_topic(
                mutual_tls.settings("skatteverket").kafka,
                "mtls.tasks.skatteverket",
                idle_timeout=0.5,
                max_wait=20,
            )
        )
        views = {json.loads(r.value)["task_id"] for r in records if r.value}

    headers = {"Authorization": f"Bearer {mutual_tls.kronofogden_token}"}
    with httpx.Client(base_url=mutual_tls.gateway_url, headers=headers, timeout=10) as agency:
        for task_id in theirs:
            deadline = time.monotonic() + 60
            while agency.get(f"/api/v1/tasks/{task_id}").status_code != 200:
                assert time.monotonic() < deadline, "the gateway never read the task"
                time.sleep(0.3)


def test_the_worker_and_the_gateway_report_when_their_certificates_end(
    mutual_tls: MutualTls,
) -> None:
    """`gvi_kafka_certificate_expiry_timestamp_seconds`, which GviKafkaCertificateExpiring reads."""
    folder = mutual_tls.cluster.folder
    ca_ends = last_expiry((folder / "ca.pem").read_bytes()).timestamp()
    for url, user in (
        (mutual_tls.worker_url, "gvi-worker"),
        (mutual_tls.gateway_url, "gvi-gateway"),
    ):
        ends = first_expiry((folder / f"{user}-client.pem").read_bytes()).timestamp()
        samples = metric_samples(url)
        name = "gvi_kafka_certificate_expiry_timestamp_seconds"
        assert samples[(name, frozenset({("certificate", "client")}))] == ends, user
        assert samples[(name, frozenset({("certificate", "ca")}))] == ca_ends, user

"""Trust on Kafka (DESIGN §9): every principal logs in over SASL_SSL and may do only what the
project's ACLs allow; an agency's identity is its login, never a field of its message."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaError, Producer

from events.codec import encode
from events.connection import (
    EXIT_AUTHENTICATION,
    EXIT_AUTHORISATION,
    EXIT_TLS,
    SecurityProtocol,
)
from schemas import TaskStatus
from tests.secure.conftest import ADMIN, SecureCluster
from tests.secure.processes import cli, may_describe, worker_and_gateway
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, update
from workers.gateway.credentials import add_token
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.kafka_clients import read_topic, wait_for_keys
from workers.tools.processes import (
    settings_environment,
)

pytestmark = pytest.mark.broker
DEPLOYMENT = {"topic_prefix": "sec.", "app_id": "sec-app", "partitions": 4}


@dataclass
class Secured:
    """A deployment on the secure cluster with its ACLs applied, a worker and a gateway."""

    cluster: SecureCluster
    folder: Path
    tokens: dict[str, str]
    gateway_url: str

    def settings(self, user: str | None, **more: object) -> Settings:
        return self.cluster.settings(user, **DEPLOYMENT, **more)

    def topic(self, suffix: str) -> str:
        return f"{DEPLOYMENT['topic_prefix']}{suffix}"

    def values(self, user: str, suffix: str) -> list[dict[str, Any]]:
        kafka = self.settings(user).kafka
        records = asyncio.run(read_topic(kafka, self.topic(suffix), idle_timeout=0.3, max_wait=20))
        return [json.loads(r.value) for r in records if r.value]

    def wait_for(
        self, user: str, suffix: str, holds: Any, limit: float = 120
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + limit
        values: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            values = self.values(user, suffix)
            if holds(values):
                return values
            time.sleep(0.5)
        raise AssertionError(f"{suffix} as {user}: not met in {limit} s; {values[-3:]}")


@pytest.fixture(scope="module")
def secured(
    secure_cluster: SecureCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("secured")
    admin = secure_cluster.settings(ADMIN, **DEPLOYMENT)
    applied = cli(admin, "acls", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "applied" in applied.stderr
    police = secure_cluster.settings("police", **DEPLOYMENT)
    deadline = time.monotonic() + 60
    # ACLs reach the authoriser asynchronously: wait until police may see their topic.
    while not may_describe(police, "sec.incidents"):
        assert time.monotonic() < deadline, "the ACLs never took effect"
        time.sleep(0.5)

    worker_settings = secure_cluster.settings(
        "gvi-worker",
        **DEPLOYMENT,
        web_port=free_port(),
        data_dir=folder / "worker-data",
        overdue_check_seconds=1.0,
    )
    credentials = folder / "credentials.json"
    tokens = {role: add_token(credentials, role) for role in ("agency:kronofogden", "supervisor")}
    gateway_settings = secure_cluster.settings(
        "gvi-gateway",
        **DEPLOYMENT,
        gateway_port=free_port(),
        credentials_file=credentials,
        gateway_store=folder / "gateway.sqlite",
        data_dir=folder / "gateway-data",
    )
    passwords = secure_cluster.passwords.values()
    with worker_and_gateway(worker_settings, gateway_settings, folder, passwords) as url:
        yield Secured(secure_cluster, folder, tokens, url)


def test_the_whole_path_works_for_every_principal_with_acls_on(secured: Secured) -> None:
    group = notified_group("GRP-SEC-1")
    published = cli(
        secured.settings("police"), "publish", "group", "-", stdin=group.model_dump_json()
    )
    assert published.returncode == 0, published.stderr
    reported = fresh_incident("INC-SEC-1", group.group_id)
    changelog = asyncio.run(
        wait_for_keys(
            secured.settings("gvi-worker").kafka,
            "sec-app-groups-changelog",
            [f'"{group.group_id}"'],
            120,
        )
    )
    assert changelog, "the worker registered the group"
    published = cli(
        secured.settings("police"), "publish", "incident", "-", stdin=reported.model_dump_json()
    )
    assert published.returncode == 0, published.stderr
    expected = expected_tasks(reported, group)
    mine = [t for t in expected if t.recipient == "skatteverket"]
    theirs = [t for t in expected if t.recipient == "kronofogden"]
    assert mine and theirs
    views = secured.wait_for("skatteverket", "tasks.skatteverket", lambda v: len(v) >= len(mine))
    assert {v["task_id"] for v in views} == {str(t.task_id) for t in mine}

    # Skatteverket reports on Kafka, with the project's CLI, on its own topic.
    reports = [
        json.loads(encode(update(str(t.task_id), "skatteverket", TaskStatus.COMPLETED)))
        for t in mine
    ]
    published = cli(
        secured.settings("skatteverket"), "publish", "update", "-", stdin=json.dumps(reports)
    )
    assert published.returncode == 0, published.stderr
    assert "sec.task-updates.skatteverket" in published.stdout

    # Kronofogden reports over HTTP; the gateway writes Kronofogden's topic for it.
    headers = {"Authorization": f"Bearer {secured.tokens['agency:kronofogden']}"}
    with httpx.Client(base_url=secured.gateway_url, headers=headers, timeout=10) as agency:
        for task in theirs:
            deadline = time.monotonic() + 60
            while agency.get(f"/api/v1/tasks/{task.task_id}").status_code != 200:
                assert time.monotonic() < deadline, "the gateway never showed the task"
                time.sleep(0.3)
            change = json.loads(
                encode(update(str(task.task_id), "kronofogden", TaskStatus.COMPLETED))
            )
            answer = agency.post(f"/api/v1/tasks/{task.task_id}/status", json=change)
            assert answer.status_code == 202, answer.text
            assert answer.json()["topic"] == "sec.task-updates.kronofogden"

    done = {str(t.task_id) for t in (*mine, *theirs)}

    def all_done(snapshots: list[dict[str, Any]]) -> bool:
        latest = [s for s in snapshots if s["incident_id"] == reported.incident_id]
        return bool(latest) and done <= {
            t["task_id"] for t in latest[-1]["tasks"] if t["status"] == "completed"
        }

    secured.wait_for("gvi-supervisor", "completion", all_done)
    audit = secured.values("gvi-supervisor", "audit")
    assert {a["task_id"] for a in audit} >= {str(t.task_id) for t in expected}
    pulled = [a for a in audit if a["channel"] == "pull"]
    assert {a["task_id"] for a in pulled} == {str(t.task_id) for t in theirs}, (
        "the gateway's disclosures reach gvi.audit through the worker"
    )


def _produce_error(settings: Settings, topic: str) -> str | None:
    """Produce one record as `settings` logs in; the broker's error name, or None if taken."""
    producer = Producer({**settings.kafka.librdkafka(), "message.timeout.ms": 15000})
    errors: list[KafkaError] = []
    producer.produce(
        topic, key=b"forged", value=b"{}", on_delivery=lambda error, _: errors.append(error)
    )
    producer.flush(30)
    assert errors, "no delivery report"
    return errors[0].name() if errors[0] is not None else None


@pytest.mark.parametrize(
    "suffix",
    ["task-updates.kronofogden", "completion", "tasks.skatteverket", "escalations", "audit"],
)
def test_skatteverket_may_not_write_another_agencys_or_the_workers_topics(
    secured: Secured, suffix: str
) -> None:
    error = _produce_error(secured.settings("skatteverket"), secured.topic(suffix))
    assert error == "TOPIC_AUTHORIZATION_FAILED"


def test_skatteverket_may_not_read_kronofogdens_tasks_and_the_cli_says_so_in_one_line(
    secured: Secured,
) -> None:
    tail = cli(secured.settings("skatteverket"), "tail", "tasks.kronofogden", "--timeout", "5")
    assert tail.returncode == EXIT_AUTHORISATION, tail.stderr
    lines = tail.stderr.strip().splitlines()
    assert len(lines) == 1, tail.stderr
    assert "User:skatteverket" in lines[0] and "sec.tasks.kronofogden" in lines[0]
    own = cli(secured.settings("skatteverket"), "tail", "tasks.skatteverket", "--timeout", "3")
    assert own.returncode == 0, own.stderr


def test_an_update_naming_skatteverket_on_kronofogdens_topic_is_wrong_agency(
    secured: Secured,
) -> None:
    task_id = "6f1c5d3e-2a4b-4c8d-9e0f-1a2b3c4d5e6f"
    forged = encode(update(task_id, "skatteverket", TaskStatus.COMPLETED))
    producer = Producer(secured.settings("kronofogden").kafka.librdkafka())
    producer.produce(secured.topic("task-updates.kronofogden"), key=task_id.encode(), value=forged)
    assert producer.flush(30) == 0
    rejected = secured.wait_for(
        ADMIN, "rejected", lambda v: any(r.get("source_key") == task_id for r in v)
    )
    [answer] = [r for r in rejected if r.get("source_key") == task_id]
    assert answer["error_code"] == "wrong_agency"
    assert answer["source_topic"] == "sec.task-updates.kronofogden"


def test_supervisors_read_completion_but_not_the_incidents(secured: Secured) -> None:
    supervisor = secured.settings("gvi-supervisor")
    assert may_describe(supervisor, "sec.completion")
    assert not may_describe(supervisor, "sec.incidents")
    assert _produce_error(supervisor, "sec.completion") == "TOPIC_AUTHORIZATION_FAILED"


def _one_line_refusal(run: subprocess.CompletedProcess[str], code: int, names: str) -> None:
    assert run.returncode == code, (run.returncode, run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert names in lines[0], lines[0]


def test_no_credentials_a_wrong_password_or_an_unknown_ca_are_refused_in_one_line(
    secured: Secured,
) -> None:
    anonymous = secured.settings(None)
    _one_line_refusal(
        cli(anonymous, "tail", "completion", "--timeout", "3"),
        EXIT_AUTHENTICATION,
        "GVI_KAFKA_SECURITY_PROTOCOL",
    )
    wrong = secured.settings("police").model_copy(
        update={"kafka_sasl_password": secured.settings(ADMIN).kafka_sasl_password}
    )
    _one_line_refusal(
        cli(wrong, "publish", "group", "-", stdin=notified_group("GRP-SEC-X").model_dump_json()),
        EXIT_AUTHENTICATION,
        "GVI_KAFKA_SASL_PASSWORD",
    )
    unknown_ca = secured.settings("police").model_copy(
        update={"kafka_ssl_cafile": secured.cluster.folder / "other-ca.pem"}
    )
    _one_line_refusal(
        cli(unknown_ca, "tail", "completion", "--timeout", "3"), EXIT_TLS, "GVI_KAFKA_SSL_CAFILE"
    )
    plaintext = secured.settings("police").model_copy(
        update={
            "kafka_security_protocol": SecurityProtocol.PLAINTEXT,
            "kafka_sasl_username": None,
            "kafka_sasl_password": None,
            "kafka_ssl_cafile": None,
        }
    )
    _one_line_refusal(
        cli(plaintext, "tail", "completion", "--timeout", "3"),
        EXIT_AUTHENTICATION,
        "GVI_KAFKA_SECURITY_PROTOCOL",
    )
    worker = secured.settings("gvi-worker").model_copy(
        update={"kafka_sasl_password": wrong.kafka_sasl_password, "web_port": free_port()}
    )
    _one_line_refusal(cli(worker, "worker"), EXIT_AUTHENTICATION, "GVI_KAFKA_SASL_PASSWORD")


def test_an_agency_known_by_its_client_certificate_is_that_principal(secured: Secured) -> None:
    """Mutual TLS, no password: the certificate's CN is the principal, and its ACLs hold."""
    mtls = secured.cluster.mtls_settings("skatteverket", **DEPLOYMENT)
    own = cli(mtls, "tail", "tasks.skatteverket", "--timeout", "3")
    assert own.returncode == 0, own.stderr
    _one_line_refusal(
        cli(mtls, "tail", "tasks.kronofogden", "--timeout", "5"),
        EXIT_AUTHORISATION,
        "sec.tasks.kronofogden",
    )
    assert _produce_error(mtls, secured.topic("completion")) == "TOPIC_AUTHORIZATION_FAILED"
    assert _produce_error(mtls, secured.topic("task-updates.kronofogden")) == (
        "TOPIC_AUTHORIZATION_FAILED"
    )
    assert _produce_error(mtls, secured.topic("task-updates.skatteverket")) is None


def test_no_client_certificate_or_one_of_another_ca_is_refused_in_one_line(
    secured: Secured,
) -> None:
    cluster = secured.cluster
    without = cluster.mtls_settings(None, **DEPLOYMENT)
    _one_line_refusal(
        cli(without, "tail", "completion", "--timeout", "3"),
        EXIT_AUTHENTICATION,
        "GVI_KAFKA_SSL_CERTFILE",
    )
    stranger = without.model_copy(
        update={
            "kafka_ssl_certfile": cluster.folder / "stranger-client.pem",
            "kafka_ssl_keyfile": cluster.folder / "stranger-client.key",
        }
    )
    _one_line_refusal(
        cli(stranger, "tail", "completion", "--timeout", "3"),
        EXIT_AUTHENTICATION,
        "GVI_KAFKA_SSL_CERTFILE",
    )


def test_a_password_read_from_the_secrets_folder_logs_in(secured: Secured, tmp_path: Path) -> None:
    """GVI_SECRETS_DIR: the password is a file named as its variable, not in the environment."""
    environment = {**os.environ, **settings_environment(secured.settings("skatteverket"))}
    password = environment.pop("GVI_KAFKA_SASL_PASSWORD")
    (tmp_path / "GVI_KAFKA_SASL_PASSWORD").write_text(password + "\n", "utf-8")
    environment["GVI_SECRETS_DIR"] = str(tmp_path)
    command = [sys.executable, "-m", "workers.cli", "tail", "tasks.skatteverket", "--timeout", "3"]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=environment
    )
    assert run.returncode == 0, run.stderr
    (tmp_path / "GVI_KAFKA_SASL_PASSWORD").write_text("not-the-password\n", "utf-8")
    refused = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=environment
    )
    _one_line_refusal(refused, EXIT_AUTHENTICATION, "GVI_KAFKA_SASL_PASSWORD")

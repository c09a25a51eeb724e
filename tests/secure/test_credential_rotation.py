"""A Kafka password rotated under a running worker, as Strimzi's User Operator or an operator
does it: the broker takes the new password, the Secret's file changes, the worker stops with
exit 75 and, started again by its supervisor, logs in with the new password."""

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from events.connection import EXIT_AUTHENTICATION
from tests.secure.conftest import ADMIN, SecureCluster
from tests.secure.processes import cli
from workers.cli.acls import acl_admin
from workers.demo.processes import stop_process
from workers.secret_watch import EXIT_SECRETS_CHANGED
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.processes import start_worker_process

PRINCIPAL = "gvi-worker-rotating"
DEPLOYMENT = {
    "topic_prefix": "rot.",
    "app_id": "gvi-rot",
    "partitions": 2,
    "acl_worker_principal": f"User:{PRINCIPAL}",
}


def set_password(cluster: SecureCluster, user: str, password: str) -> None:
    """What `kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=…]'` does."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = acl_admin(cluster.settings(ADMIN))
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=60)


@pytest.fixture
def worker_settings(secure_cluster: SecureCluster, tmp_path: Path) -> Settings:
    """A deployment whose worker logs in as its own SCRAM user, with its password as a file."""
    password = secure_cluster.passwords[PRINCIPAL] = secrets.token_urlsafe(18)
    set_password(secure_cluster, PRINCIPAL, password)
    applied = cli(secure_cluster.settings(ADMIN, **DEPLOYMENT), "acls", "--apply")
    assert applied.returncode == 0, applied.stderr
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "GVI_KAFKA_SASL_PASSWORD").write_text(password, "utf-8")
    settings = secure_cluster.settings(
        PRINCIPAL,
        **DEPLOYMENT,
        web_port=free_port(),
        data_dir=tmp_path / "worker-data",
        secrets_dir=folder,
        secrets_watch_seconds=0.2,
        secrets_restart_spread_seconds=0.0,
    )
    return settings.model_copy(update={"kafka_sasl_password": None})


def started(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    process = start_worker_process(settings, log)
    deadline = time.monotonic() + 120
    while '"worker started"' not in log.read_text("utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process


def test_a_rotated_password_is_used_after_the_worker_stops_for_it(
    secure_cluster: SecureCluster, worker_settings: Settings, tmp_path: Path
) -> None:
    assert "GVI_KAFKA_SASL_PASSWORD" not in os.environ
    password_file = tmp_path / "secrets" / "GVI_KAFKA_SASL_PASSWORD"
    old = password_file.read_text("utf-8")
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    worker = started(worker_settings, first_log)
    try:
        new = secrets.token_urlsafe(18)
        set_password(secure_cluster, PRINCIPAL, new)  # the broker first, then the Secret
        password_file.write_text(new, "utf-8")
        assert worker.wait(timeout=60) == EXIT_SECRETS_CHANGED
    finally:
        stop_process(worker)
    assert str(password_file) in first_log.read_text("utf-8")
    worker = started(worker_settings, second_log)
    try:
        with_old = worker_settings.model_copy(
            update={"secrets_dir": None, "kafka_sasl_password": SecretStr(old)}
        )
        refused = cli(with_old, "tail", "completion", "--timeout", "3")
        assert refused.returncode == EXIT_AUTHENTICATION, "the first worker's password is dead"
        assert worker.poll() is None, "the worker runs on the new password"
    finally:
        stop_process(worker)
    for log in (first_log, second_log):
        text = log.read_text("utf-8", errors="replace")
        assert old not in text and new not in text, "a password in the log"
        refusals = ("AuthenticationFailed", "AuthorizationFailed")
        assert not [refusal for refusal in refusals if refusal in text], text[-3000:]

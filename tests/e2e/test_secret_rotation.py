"""A secret file that changes under a running worker or gateway (a renewed Kubernetes Secret):
the process stops gracefully with exit 75 and, started again, uses the new secret."""

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import Deployment
from tests.support.gateway_stack import started_stack
from workers.secret_watch import EXIT_SECRETS_CHANGED
from workers.tools.embedded_broker import free_port

pytestmark = pytest.mark.broker

WATCHED = {"secrets_watch_seconds": 0.2, "secrets_restart_spread_seconds": 0.0}


def exit_code(process: subprocess.Popen[bytes], limit: float = 60) -> int:
    try:
        return process.wait(timeout=limit)
    except subprocess.TimeoutExpired as late:
        raise AssertionError(f"the process did not stop within {limit} s") from late


def test_a_worker_whose_secret_file_changes_stops_gracefully_with_exit_75(
    deployment: Deployment, tmp_path: Path
) -> None:
    folder = tmp_path / "worker-secrets"
    folder.mkdir()
    (folder / "user.password").write_text("invented-password-1", "utf-8")
    worker = deployment.start_worker(secrets_dir=folder, **WATCHED)
    deployment.wait_for_log('"worker started"')
    time.sleep(1.0)
    assert worker.process.poll() is None, "an unchanged file stops nothing"
    (folder / "user.password").write_text("invented-password-2", "utf-8")
    assert exit_code(worker.process) == EXIT_SECRETS_CHANGED
    log = worker.log()
    assert '"secret files changed; the process stops to start with the new ones"' in log
    assert str(folder / "user.password") in log
    assert "invented-password" not in log, "a secret's content is never logged"
    assert "did not stop in time" not in log, "the stop was the graceful one"


def test_a_gateway_started_again_after_its_metrics_token_changed_asks_for_the_new_one(
    deployment: Deployment, tmp_path: Path
) -> None:
    folder = tmp_path / "gateway-secrets"
    folder.mkdir()
    token_file = folder / "GVI_GATEWAY_METRICS_TOKEN"
    old, new = "invented-metrics-token-old-1", "invented-metrics-token-new-2"
    token_file.write_text(old, "utf-8")
    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"

    def answer(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(metrics, headers=headers, timeout=10).status_code

    with started_stack(
        deployment, gateway_metrics_port=port, secrets_dir=folder, **WATCHED
    ) as stack:
        assert (answer(old), answer(new)) == (200, 401)
        token_file.write_text(new, "utf-8")
        assert exit_code(stack.gateway) == EXIT_SECRETS_CHANGED
        log = stack.log_path.read_text("utf-8")
        assert str(token_file) in log and old not in log and new not in log
        stack.restart_gateway({})
        assert (answer(old), answer(new)) == (401, 200)

"""The secure tier's processes: the CLI as a user runs it, and a worker with a gateway started
together, ready, then stopped with their logs checked for a missing ACL or a leaked password."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from events.connection import KafkaAccessRefused, check_access
from workers.demo.processes import stop_process
from workers.settings import Settings
from workers.tools.processes import (
    settings_environment,
    start_gateway_process,
    start_worker_process,
)


def cli(
    settings: Settings, *arguments: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `gvi-sanctions ARGUMENTS` as a user would, configured by GVI_ variables."""
    environment = {**os.environ, **settings_environment(settings)}
    run = subprocess.run(
        [sys.executable, "-m", "workers.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
        input=stdin,
    )
    password = settings.kafka.password
    assert not password or password not in run.stdout + run.stderr, "a password was printed"
    return run


@contextmanager
def worker_and_gateway(
    worker: Settings, gateway: Settings, folder: Path, secrets: Iterable[str] = ()
) -> Iterator[str]:
    """A worker and a gateway running until the block ends; yields the gateway's URL once it is
    ready. Afterwards neither log may show an authorisation failure or one of `secrets`."""
    logs = {"worker.log": folder / "worker.log", "gateway.log": folder / "gateway.log"}
    worker_process = start_worker_process(worker, logs["worker.log"])
    gateway_process = start_gateway_process(gateway, logs["gateway.log"])
    try:
        url = f"http://127.0.0.1:{gateway.gateway_port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            exited = gateway_process.poll() is not None or worker_process.poll() is not None
            if time.monotonic() > deadline or exited:
                raise AssertionError(
                    "not ready:\n" + "".join(log.read_text()[-3000:] for log in logs.values())
                )
            time.sleep(0.5)
        yield url
    finally:
        stop_process(gateway_process)
        stop_process(worker_process)
        for name, log in logs.items():
            text = log.read_text("utf-8", errors="replace")
            assert "AuthorizationFailed" not in text, f"{name} lacks an ACL:\n{text[-3000:]}"
            assert not [secret for secret in secrets if secret in text], f"{name} holds a secret"


def may_describe(settings: Settings, topic: str) -> bool:
    """Whether the principal of `settings` may see `topic` (any ACL on it implies DESCRIBE)."""
    try:
        asyncio.run(check_access(settings.kafka, [topic]))
    except KafkaAccessRefused:
        return False
    return True

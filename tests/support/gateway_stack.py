"""A deployment's worker and a real gateway process, with a token per role."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.deployment import Deployment
from workers.gateway.credentials import add_token
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.processes import start_gateway_process

ROLES = ("police", "supervisor", "agency:skatteverket", "agency:kronofogden")


@dataclass
class Stack:
    """A deployment's worker and gateway, and a token per role."""

    deployment: Deployment
    base_url: str
    tokens: dict[str, str]
    gateway: subprocess.Popen[bytes]
    settings: Settings
    log_path: Path

    def client(self, role: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0)

    def until(self, role: str, path: str, holds: Any, limit: float = 90) -> Any:
        """GET `path` until `holds(answer)` is true; returns the last JSON answer."""
        deadline = time.monotonic() + limit
        with self.client(role) as client:
            while True:
                answer = client.get(path)
                if answer.status_code == 200 and holds(answer.json()):
                    return answer.json()
                if time.monotonic() > deadline:
                    raise AssertionError(f"{path}: {answer.status_code} {answer.text[:500]}")
                time.sleep(0.3)

    def kill_gateway(self) -> None:
        os.kill(self.gateway.pid, signal.SIGKILL)
        self.gateway.wait(timeout=20)

    def restart_gateway(self, environment: dict[str, str]) -> None:
        """Start the gateway again on the same port, store and consumer groups."""
        self.gateway = _start(self.settings, self.log_path, environment)
        _wait_ready(self)

    def stop(self) -> None:
        if self.gateway.poll() is None:
            os.kill(self.gateway.pid, signal.SIGTERM)
            try:
                self.gateway.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_gateway()


def _start(
    settings: Settings, log_path: Path, environment: dict[str, str]
) -> subprocess.Popen[bytes]:
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        return start_gateway_process(settings, log_path)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _wait_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{stack.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or stack.gateway.poll() is not None:
            raise AssertionError(f"gateway not ready: {stack.log_path.read_text()[-3000:]}")
        time.sleep(0.3)


@contextmanager
def started_stack(
    deployment: Deployment,
    environment: dict[str, str] | None = None,
    roles: tuple[str, ...] = (),
    **settings: Any,
) -> Iterator[Stack]:
    """A worker and a gateway for `deployment`, with a token for each of ROLES and `roles`;
    `settings` and `environment` (e.g. webhook secrets) go to the gateway."""
    credentials = deployment.tmp_path / "credentials.json"
    tokens = {role: add_token(credentials, role) for role in (*ROLES, *roles)}
    deployment.start_worker()
    port = free_port()
    own = deployment.settings.model_copy(
        update={
            "gateway_port": port,
            "credentials_file": credentials,
            "gateway_store": deployment.tmp_path / "gateway.sqlite",
            "data_dir": deployment.tmp_path / "gateway-data",
            "max_body_bytes": 65_536,
            **settings,
        }
    )
    log_path = deployment.tmp_path / "gateway.log"
    gateway = _start(own, log_path, environment or {})
    built = Stack(deployment, f"http://127.0.0.1:{port}", tokens, gateway, own, log_path)
    try:
        _wait_ready(built)
        yield built
    finally:
        built.stop()


def metric_samples(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A process's `/metrics`, parsed by prometheus_client's own parser."""
    answer = httpx.get(f"{base_url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One series' value; 0 when the series was never written."""
    return samples.get((name, frozenset(labels.items())), 0.0)

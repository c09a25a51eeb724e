"""Deployments on a real broker: one broker per session, real worker processes per test."""

import asyncio
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from events.codec import encode
from schemas import GroupProfile
from tests.support.brokers import running_broker
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.kafka_clients import Record, publish, read_topic, wait_for_keys
from workers.tools.processes import start_worker_process

_names = itertools.count(1)


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_broker(tmp_path_factory.mktemp("broker")) as url:
        yield url


@dataclass
class WorkerProcess:
    """A `gvi-sanctions worker` subprocess, stopped by its pid."""

    process: subprocess.Popen[bytes]
    log_path: Path
    settings: Settings | None = None

    @property
    def web_url(self) -> str:
        """The worker's own web server (metrics and health)."""
        assert self.settings is not None, "started without settings"
        return f"http://{self.settings.web_host}:{self.settings.web_port}"

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def done(self, what: str) -> int:
        """How often the worker's batches did `what` (a routine line such as "task changed",
        which each batch counts in its one "batch handled" line)."""
        total = 0
        for line in self.log().splitlines():
            if '"batch handled"' not in line:
                continue
            try:
                total += json.loads(line).get("done", {}).get(what, 0)
            except ValueError:
                continue  # a line cut short by a kill
        return total


@dataclass
class Deployment:
    """One isolated deployment on the shared broker: its own topic prefix and consumer group."""

    settings: Settings
    tmp_path: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers

    def topic(self, suffix: str) -> str:
        return f"{self.settings.topic_prefix}{suffix}"

    def start_worker(self, **settings: Any) -> WorkerProcess:
        index = len(self.workers) + 1
        log_path = self.tmp_path / f"worker-{index}.log"
        own = self.settings.model_copy(
            update={
                "web_port": free_port(),
                "data_dir": self.tmp_path / f"data-{index}",
                "overdue_check_seconds": 1.0,
                **settings,
            }
        )
        process = start_worker_process(own, log_path)
        worker = WorkerProcess(process=process, log_path=log_path, settings=own)
        self.workers.append(worker)
        return worker

    def publish(
        self, suffix: str, messages: list[tuple[str | None, bytes | None]]
    ) -> list[tuple[int, int]]:
        return asyncio.run(publish(self.bootstrap, self.topic(suffix), messages))

    def report(self, updates: list[tuple[str, bytes]]) -> list[tuple[int, int]]:
        """Publish agencies' status updates, each to the status topic of the agency that its
        body names (`task-updates.<recipient>`); returns their places in the given order."""
        by_recipient: dict[str, list[int]] = {}
        for index, (_, value) in enumerate(updates):
            by_recipient.setdefault(json.loads(value)["recipient"], []).append(index)
        placed: dict[int, tuple[int, int]] = {}
        for recipient, indexes in by_recipient.items():
            messages: list[tuple[str | None, bytes | None]] = [updates[i] for i in indexes]
            for index, place in zip(
                indexes, self.publish(f"task-updates.{recipient}", messages), strict=True
            ):
                placed[index] = place
        return [placed[index] for index in range(len(updates))]

    def read(self, topic: str) -> list[Record]:
        return asyncio.run(read_topic(self.bootstrap, topic, idle_timeout=0.3, max_wait=20))

    def values(self, suffix: str) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.read(self.topic(suffix)) if r.value]

    def wait_for(
        self, suffix: str, predicate: Callable[[list[dict[str, Any]]], bool], limit: float = 90
    ) -> list[dict[str, Any]]:
        """Re-read a topic until `predicate` holds for its values."""
        deadline = time.monotonic() + limit
        values: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            values = self.values(suffix)
            if predicate(values):
                return values
            time.sleep(0.5)
        raise AssertionError(f"{self.topic(suffix)}: condition not met in {limit} s; {values[-3:]}")

    def wait_for_done(self, what: str, count: int = 1, limit: float = 60) -> None:
        """Wait until the workers' batches did `what` at least `count` times together."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if sum(worker.done(what) for worker in self.workers) >= count:
                return
            time.sleep(0.3)
        raise AssertionError(f"the workers' batches never did {what!r} {count} time(s)")

    def wait_for_log(self, text: str, count: int = 1, limit: float = 60) -> None:
        """Wait until the workers' logs hold `text` at least `count` times."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if sum(worker.log().count(text) for worker in self.workers) >= count:
                return
            time.sleep(0.3)
        raise AssertionError(f"the workers never logged {text!r} {count} time(s)")

    def register_groups(self, *groups: GroupProfile) -> None:
        """Publish group profiles and wait until the worker holds them in its table."""
        self.publish("groups", [(group.group_id, encode(group)) for group in groups])
        changelog = f"{self.settings.app_id}-groups-changelog"
        asyncio.run(
            wait_for_keys(self.bootstrap, changelog, [f'"{g.group_id}"' for g in groups], 90)
        )


def new_deployment(broker_url: str, tmp_path: Path) -> Deployment:
    """A deployment with its own topic prefix and app id on the shared broker."""
    name = f"it{os.getpid()}x{next(_names)}"
    settings = Settings(
        broker_url=broker_url,
        topic_prefix=f"{name}.",
        app_id=name,
        partitions=4,
        replication_factor=int(os.environ.get("GVI_TEST_REPLICATION", "1")),
    )
    return Deployment(settings=settings, tmp_path=tmp_path)


@pytest.fixture
def deployment(broker_url: str, tmp_path: Path) -> Iterator[Deployment]:
    deployed = new_deployment(broker_url, tmp_path)
    yield deployed
    for worker in deployed.workers:
        worker.stop()
    for worker in deployed.workers:
        if worker.process.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM):
            print(worker.log()[-5000:])

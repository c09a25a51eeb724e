"""`gvi-sanctions demo`: broker, worker, invented incidents, simulated agencies, live progress."""

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from events.catalogue import Catalogue, build_catalogue
from events.codec import encode
from schemas.completion import CompletionSnapshot, IncidentProgress
from schemas.task import TaskStatus, TaskStatusChange
from workers.core.policy import load_policy
from workers.demo_data import demo_groups, demo_incidents
from workers.embedded_broker import EmbeddedBroker, free_port
from workers.faust_fixes.topic_tracking_producer import TopicTrackingProducer
from workers.kafka_tools import follow_many, publish, wait_for_keys
from workers.settings import Settings
from workers.worker_process import start_worker_process

AGENCY_STEPS = (TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)
BAR_WIDTH = 24


def _say(text: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    # The terminal or pipe may be gone (e.g. `| head`, or `| tee` killed by Ctrl-C): go on.
    with contextlib.suppress(OSError):
        print(f"[{stamp}] {text}", flush=True)


def _bar(percent: float) -> str:
    filled = round(BAR_WIDTH * percent / 100)
    return "#" * filled + "." * (BAR_WIDTH - filled)


class SupervisedWorker:
    """The demo's worker process, started again when it exits on its own, as a service manager
    (systemd, Kubernetes) would; the worker exits on purpose when a watchdog gives up."""

    def __init__(self, settings: Settings, data_dir: Path, max_starts: int = 5) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.max_starts = max_starts
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log_path = self.data_dir / (
            "worker.log" if self.starts == 1 else f"worker-{self.starts}.log"
        )
        self.process = start_worker_process(self.settings, log_path)
        _say(f"worker pid {self.process.pid}; its log: {log_path}")

    def keep_running(self) -> bool:
        """Start the worker again if it has exited; False once it has exited `max_starts` times."""
        if self.process is None or self.process.poll() is None:
            return True
        exited = f"worker pid {self.process.pid} exited with status {self.process.returncode}"
        if self.starts >= self.max_starts:
            _say(f"{exited}; it has exited {self.starts} times, not starting it again")
            return False
        _say(f"{exited}; starting it again")
        self.start()
        return True

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            _say(f"stopped worker pid {self.process.pid}")


class Demo:
    """One demo run against a running broker and a supervised worker."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        agency_pace: float,
        worker: SupervisedWorker,
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.agency_pace = agency_pace
        self.worker = worker
        self.random = random.Random(2026)
        self.snapshots: dict[str, CompletionSnapshot] = {}
        self.handled: set[str] = set()
        self.shown: dict[str, str] = {}

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers

    async def run(self, limit_seconds: float) -> bool:
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Inside the loop, an interrupt cancels the run, so that every client closes cleanly.
            loop.add_signal_handler(signum, main.cancel)
        now = datetime.now(UTC)
        groups = demo_groups(now)
        incidents = demo_incidents(now)
        await publish(
            self.bootstrap, self.catalogue.groups.name, [(g.group_id, encode(g)) for g in groups]
        )
        _say(f"published {len(groups)} invented groups; waiting for the worker to register them")
        changelog = f"{self.settings.app_id}-groups-changelog"
        await wait_for_keys(self.bootstrap, changelog, [f'"{g.group_id}"' for g in groups], 120)
        for incident in incidents:
            await publish(
                self.bootstrap,
                self.catalogue.incidents.name,
                [(incident.incident_id, encode(incident))],
            )
            attribution = incident.attributions[0]
            _say(
                f"police published {incident.incident_id}: {incident.incident_type.value} in "
                f"{incident.municipality}, attributed to {attribution.group_id} "
                f"(confidence {attribution.confidence:.2f})"
            )
        expected = {incident.incident_id for incident in incidents}
        producer = TopicTrackingProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        background = {
            asyncio.create_task(self._agencies(producer)),
            asyncio.create_task(self._supervise()),
        }
        watching = asyncio.create_task(self._watch(expected))
        try:
            done, _ = await asyncio.wait(
                {watching, *background}, timeout=limit_seconds, return_when="FIRST_COMPLETED"
            )
            if watching in done:
                return watching.result()
            if not done:
                _say(f"time limit of {limit_seconds:.0f} s reached before every task was done")
            for task in done:
                task.result()
            return False
        finally:
            for task in (watching, *background):
                task.cancel()
            await asyncio.gather(watching, *background, return_exceptions=True)
            await producer.stop()

    async def _supervise(self) -> None:
        """Returns when the worker has exited too often to start it again."""
        while True:
            if not self.worker.keep_running():
                return
            await asyncio.sleep(1.0)

    async def _agencies(self, producer: TopicTrackingProducer) -> None:
        """Each agency acknowledges, starts and completes every task it receives."""
        topics = [spec.name for spec in self.catalogue.tasks.values()]
        pending: set[asyncio.Task[None]] = set()
        async for record in follow_many(self.bootstrap, topics):
            view = json.loads(record.value or b"{}")
            if view.get("status") != TaskStatus.DELIVERED.value or view["task_id"] in self.handled:
                continue
            self.handled.add(view["task_id"])
            work = asyncio.create_task(
                self._work_on(producer, UUID(view["task_id"]), view["recipient"])
            )
            pending.add(work)
            work.add_done_callback(pending.discard)

    async def _work_on(
        self, producer: TopicTrackingProducer, task_id: UUID, recipient: str
    ) -> None:
        for status in AGENCY_STEPS:
            await asyncio.sleep(self.random.uniform(0.2, 1.0) * self.agency_pace)
            change = TaskStatusChange(
                task_id=task_id,
                recipient=recipient,
                status=status,
                changed_at=datetime.now(UTC),
                reported_by=f"{recipient}-demo-officer",
            )
            await producer.send_and_wait(
                self.catalogue.task_updates.name, key=str(task_id).encode(), value=encode(change)
            )

    async def _watch(self, expected: set[str]) -> bool:
        topics = [self.catalogue.completion.name, self.catalogue.rejected.name]
        async for record in follow_many(self.bootstrap, topics):
            if record.topic == self.catalogue.rejected.name:
                rejection = json.loads(record.value or b"{}")
                _say(f"REJECTED {rejection.get('source_key')}: {rejection.get('message')}")
                continue
            snapshot = CompletionSnapshot.model_validate_json(record.value or b"{}")
            self.snapshots[snapshot.incident_id] = snapshot
            self._show(snapshot)
            if expected <= set(self.snapshots) and all(
                self.snapshots[i].progress is not IncidentProgress.OPEN for i in expected
            ):
                self._summary()
                return True
        return False

    def _show(self, snapshot: CompletionSnapshot) -> None:
        if snapshot.progress is IncidentProgress.NO_ACTION:
            line = f"{snapshot.incident_id:<16} no tasks: attribution below the policy's threshold"
        else:
            counts = " · ".join(
                f"{snapshot.by_status[status]} {status.value.replace('_', ' ')}"
                for status in (
                    TaskStatus.DELIVERED,
                    TaskStatus.ACKNOWLEDGED,
                    TaskStatus.IN_PROGRESS,
                )
                if snapshot.by_status.get(status)
            )
            line = (
                f"{snapshot.incident_id:<16} [{_bar(snapshot.percent_complete)}] "
                f"{snapshot.percent_complete:5.1f}%  "
                f"{snapshot.tasks_completed}/{snapshot.tasks_total} completed"
                + (f" · {counts}" if counts else "")
                + f" ({snapshot.progress.value})"
            )
        if self.shown.get(snapshot.incident_id) != line:
            self.shown[snapshot.incident_id] = line
            _say(line)

    def _summary(self) -> None:
        _say("every incident is settled:")
        for snapshot in self.snapshots.values():
            recipients = sorted({task.recipient for task in snapshot.tasks})
            _say(
                f"  {snapshot.incident_id}: {snapshot.progress.value}, "
                f"{snapshot.tasks_completed}/{snapshot.tasks_total} tasks completed"
                + (f" by {', '.join(recipients)}" if recipients else "")
            )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_demo(limit_seconds: float, agency_pace: float) -> int:
    """Run the whole demo; returns 0 when every incident settled within the time limit."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    base = Settings()
    run_id = f"demo-{int(time.time())}"
    data_dir = base.data_dir / run_id
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_path=data_dir / "broker.log")
    worker: SupervisedWorker | None = None
    started = time.monotonic()
    try:
        broker.start()
        settings = base.model_copy(
            update={
                "broker_url": broker.url,
                "app_id": run_id,
                "web_port": free_port(),
                "data_dir": data_dir,
            }
        )
        _say(f"embedded broker (Tansu) pid {broker.process and broker.process.pid} on {broker.url}")
        worker = SupervisedWorker(settings, data_dir)
        worker.start()
        policy = load_policy(settings.policy_path)
        catalogue = build_catalogue(
            settings.topic_prefix, settings.partitions, policy.recipient_ids
        )
        done = asyncio.run(Demo(settings, catalogue, agency_pace, worker).run(limit_seconds))
        _say(f"demo {'finished' if done else 'stopped'} after {time.monotonic() - started:.1f} s")
        return 0 if done else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if worker is not None:
            worker.stop()
        broker.stop()
        _say(f"stopped broker pid {broker.process and broker.process.pid}")

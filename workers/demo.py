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
from uuid import UUID

from events.catalogue import Catalogue, build_catalogue
from events.codec import encode
from schemas.completion import CompletionSnapshot, IncidentProgress
from schemas.task import TaskStatus, TaskStatusChange
from workers.core.policy import load_policy
from workers.demo_data import demo_groups, demo_incidents
from workers.embedded_broker import EmbeddedBroker, free_port
from workers.kafka_tools import follow_many, publish, wait_for_keys
from workers.settings import Settings
from workers.topic_tracking_producer import TopicTrackingProducer
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


class Demo:
    """One demo run against a running broker and worker."""

    def __init__(self, settings: Settings, catalogue: Catalogue, agency_pace: float) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.agency_pace = agency_pace
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
        try:
            agencies = asyncio.create_task(self._agencies(producer))
            try:
                return await asyncio.wait_for(self._watch(expected), timeout=limit_seconds)
            except TimeoutError:
                _say(f"time limit of {limit_seconds:.0f} s reached before every task was done")
                return False
            finally:
                agencies.cancel()
                await asyncio.gather(agencies, return_exceptions=True)
        finally:
            await producer.stop()

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
    worker: subprocess.Popen[bytes] | None = None
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
        worker = start_worker_process(settings, data_dir / "worker.log")
        _say(f"embedded broker (Tansu) pid {broker.process and broker.process.pid} on {broker.url}")
        _say(f"worker pid {worker.pid}; its log: {data_dir / 'worker.log'}")
        policy = load_policy(settings.policy_path)
        catalogue = build_catalogue(
            settings.topic_prefix, settings.partitions, policy.recipient_ids
        )
        done = asyncio.run(Demo(settings, catalogue, agency_pace).run(limit_seconds))
        _say(f"demo {'finished' if done else 'stopped'} after {time.monotonic() - started:.1f} s")
        return 0 if done else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if worker is not None:
            _stop(worker)
        broker.stop()
        if worker is not None:
            _say(f"stopped worker pid {worker.pid}")
        _say(f"stopped broker pid {broker.process and broker.process.pid}")

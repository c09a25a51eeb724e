"""`gvi-sanctions demo`: broker, worker, gateway, invented incidents, simulated agencies (on
Kafka, by webhook and by the pull API), live progress."""

import asyncio
import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from events.catalogue import Catalogue
from events.codec import encode
from events.connection import KafkaConnection
from schemas.completion import CompletionSnapshot, IncidentProgress
from schemas.task import TaskStatus, TaskStatusChange
from workers.demo.agencies import (
    PULL_AGENCY,
    SECRET_ENV,
    WEBHOOK_AGENCY,
    HttpAgencies,
    pulled_tasks,
    report_over_http,
    set_up,
    webhook_receiver,
)
from workers.demo.data import demo_groups, demo_incidents
from workers.demo.processes import SupervisedWorker, say, start_gateway, stop_process
from workers.faust_fixes.topic_tracking_producer import TopicTrackingProducer
from workers.policies import load_policy
from workers.settings import Settings
from workers.tools.embedded_broker import EmbeddedBroker, free_port
from workers.tools.kafka_clients import follow_many, publish, wait_for_keys

AGENCY_STEPS = (TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)
BAR_WIDTH = 24


def _bar(percent: float) -> str:
    filled = round(BAR_WIDTH * percent / 100)
    return "#" * filled + "." * (BAR_WIDTH - filled)


class Demo:
    """One demo run against a running broker and a supervised worker."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        agency_pace: float,
        worker: SupervisedWorker,
        gateway_url: str,
        agencies: HttpAgencies,
        webhook_inbox: "queue.Queue[dict[str, Any]]",
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.agency_pace = agency_pace
        self.worker = worker
        self.gateway_url = gateway_url
        self.agencies = agencies
        self.webhook_inbox = webhook_inbox
        self.http = httpx.AsyncClient(base_url=gateway_url, timeout=httpx.Timeout(10.0))
        self.random = random.Random(2026)
        self.snapshots: dict[str, CompletionSnapshot] = {}
        self.handled: set[str] = set()
        self.working: set[asyncio.Task[None]] = set()
        self.shown: dict[str, str] = {}
        self.received: dict[str, dict[str, set[str]]] = {}
        """Per recipient, per partnership, the incidents whose tasks it received."""

    @property
    def bootstrap(self) -> KafkaConnection:
        return self.settings.kafka

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
        say(f"published {len(groups)} invented groups; waiting for the worker to register them")
        changelog = f"{self.settings.app_id}-groups-changelog"
        await wait_for_keys(self.bootstrap, changelog, [f'"{g.group_id}"' for g in groups], 120)
        await self._gateway_ready()
        police = {
            "Authorization": f"Bearer {self.agencies.tokens['police']}",
            "Content-Type": "application/json",
        }
        for incident in incidents:
            answer = await self.http.post(
                "/api/v1/incidents", content=encode(incident), headers=police
            )
            answer.raise_for_status()
            attribution = incident.attributions[0]
            say(
                f"police published {incident.incident_id} over HTTP ({answer.status_code}): "
                f"{incident.incident_type.value} in {incident.municipality}, attributed to "
                f"{attribution.group_id} (confidence {attribution.confidence:.2f})"
            )
        expected = {incident.incident_id for incident in incidents}
        producer = TopicTrackingProducer(**self.bootstrap.aiokafka(), acks="all")
        await producer.start()
        background = {
            asyncio.create_task(self._agencies(producer)),
            asyncio.create_task(self._pull_agency()),
            asyncio.create_task(self._webhook_agency()),
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
                say(f"time limit of {limit_seconds:.0f} s reached before every task was done")
            for task in done:
                task.result()
            return False
        finally:
            for task in (watching, *background):
                task.cancel()
            await asyncio.gather(watching, *background, return_exceptions=True)
            await producer.stop()
            await self.http.aclose()

    async def _gateway_ready(self) -> None:
        for _ in range(240):
            with contextlib.suppress(httpx.TransportError):
                if (await self.http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.25)
        raise RuntimeError("the gateway did not become ready")

    async def _supervise(self) -> None:
        """Returns when the worker has exited too often to start it again."""
        while True:
            if not self.worker.keep_running():
                return
            await asyncio.sleep(1.0)

    async def _agencies(self, producer: TopicTrackingProducer) -> None:
        """The agencies on Kafka acknowledge, start and complete every task they consume."""
        topics = [
            spec.name
            for recipient, spec in self.catalogue.tasks.items()
            if recipient not in (PULL_AGENCY, WEBHOOK_AGENCY)
        ]
        on_kafka: set[str] = set()
        async for record in follow_many(self.bootstrap, topics):
            view = json.loads(record.value or b"{}")
            if view.get("recipient") not in on_kafka:
                on_kafka.add(view["recipient"])
                say(
                    f"{view['recipient']} consumes its tasks on Kafka ({record.topic}) and "
                    "reports on Kafka"
                )
            self._take(view, producer)

    async def _pull_agency(self) -> None:
        token = self.agencies.tokens[f"agency:{PULL_AGENCY}"]
        async for views in pulled_tasks(self.http, token):
            new = [v for v in views if v["status"] == TaskStatus.DELIVERED.value]
            new = [v for v in new if v["task_id"] not in self.handled]
            if new:
                say(
                    f"{PULL_AGENCY} pulled {len(new)} new task(s) from the gateway's API; "
                    "it reports over HTTP"
                )
            for view in new:
                self._take(view, None)

    async def _webhook_agency(self) -> None:
        while True:
            try:
                view = await asyncio.to_thread(self.webhook_inbox.get, True, 0.5)
            except queue.Empty:
                continue
            if view["task_id"] not in self.handled:
                say(
                    f"{WEBHOOK_AGENCY} got task {view['task_id'][:8]} by webhook (signature "
                    "verified); it reports over HTTP"
                )
            self._take(view, None)

    def _take(self, view: dict[str, Any], producer: TopicTrackingProducer | None) -> None:
        """Work on a task once (acknowledge, start, complete); None reports over HTTP."""
        partnerships = self.received.setdefault(view["recipient"], {})
        partnership = view.get("partnership") or "(none)"
        partnerships.setdefault(partnership, set()).add(view.get("incident_id") or "?")
        if view.get("status") != TaskStatus.DELIVERED.value or view["task_id"] in self.handled:
            return
        self.handled.add(view["task_id"])
        work = asyncio.create_task(
            self._work_on(producer, UUID(view["task_id"]), view["recipient"])
        )
        self.working.add(work)
        work.add_done_callback(self.working.discard)

    async def _work_on(
        self, producer: TopicTrackingProducer | None, task_id: UUID, recipient: str
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
            if producer is None:
                token = self.agencies.tokens[f"agency:{recipient}"]
                answer = await report_over_http(
                    self.http, token, change.model_dump(mode="json", exclude_none=True)
                )
                if answer != 202:
                    say(f"{recipient}: the gateway answered {answer} to {status.value}")
                continue
            await producer.send_and_wait(
                self.catalogue.task_updates[recipient].name,
                key=str(task_id).encode(),
                value=encode(change),
            )

    async def _watch(self, expected: set[str]) -> bool:
        topics = [self.catalogue.completion.name, self.catalogue.rejected.name]
        async for record in follow_many(self.bootstrap, topics):
            if record.topic == self.catalogue.rejected.name:
                rejection = json.loads(record.value or b"{}")
                say(f"REJECTED {rejection.get('source_key')}: {rejection.get('message')}")
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
            say(line)

    def _summary(self) -> None:
        say("need to know between partnerships: what each local social services received")
        for recipient in sorted(r for r in self.received if r.startswith("socialtjansten-")):
            seen = self.received[recipient]
            listed = "; ".join(
                f"{partnership} ({', '.join(sorted(incidents))})"
                for partnership, incidents in sorted(seen.items())
            )
            say(f"  {recipient} received tasks of {len(seen)} partnership(s): {listed}")
        say("every incident is settled:")
        for snapshot in self.snapshots.values():
            recipients = sorted({task.recipient for task in snapshot.tasks})
            say(
                f"  {snapshot.incident_id}: {snapshot.progress.value}, "
                f"{snapshot.tasks_completed}/{snapshot.tasks_total} tasks completed"
                + (f" by {', '.join(recipients)}" if recipients else "")
            )


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
    gateway: subprocess.Popen[bytes] | None = None
    inbox: queue.Queue[dict[str, Any]] = queue.Queue()
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
        say(f"embedded broker (Tansu) pid {broker.process and broker.process.pid} on {broker.url}")
        worker = SupervisedWorker(settings, data_dir)
        worker.start()
        policy = load_policy(settings.policy_path)
        catalogue = settings.catalogue(policy.recipient_ids)
        secret_holder: list[str] = []
        with webhook_receiver(lambda: secret_holder[0], inbox.put) as (hook_url, _):
            agencies = set_up(data_dir, hook_url)
            secret_holder.append(agencies.secret)
            os.environ[SECRET_ENV] = agencies.secret
            gateway, port = start_gateway(settings, data_dir, agencies)
            demo = Demo(
                settings,
                catalogue,
                agency_pace,
                worker,
                f"http://127.0.0.1:{port}",
                agencies,
                inbox,
            )
            done = asyncio.run(demo.run(limit_seconds))
        say(f"demo {'finished' if done else 'stopped'} after {time.monotonic() - started:.1f} s")
        return 0 if done else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if gateway is not None:
            stop_process(gateway)
            say(f"stopped gateway pid {gateway.pid}")
        if worker is not None:
            worker.stop()
        broker.stop()
        say(f"stopped broker pid {broker.process and broker.process.pid}")

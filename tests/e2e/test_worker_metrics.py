"""The worker's `/metrics`, parsed with prometheus_client's own parser after a known scenario,
and its `/readyz` during and after a table recovery."""

import json
import time
from typing import Any

import httpx
import pytest

from events.codec import encode
from schemas import TaskStatus
from tests.support.convergence import complete_all
from tests.support.deployment import Deployment
from tests.support.gateway_stack import metric_samples
from tests.support.outside_clients import librdkafka_publish
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, update
from workers.settings import EventLoop

pytestmark = pytest.mark.broker


def _value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_count_the_tasks_rejections_dispatches_and_lag_of_a_known_scenario(
    deployment: Deployment,
) -> None:
    worker = deployment.start_worker(event_loop=EventLoop.ASYNCIO)
    group = notified_group("GRP-IT-METRICS")
    deployment.register_groups(group)
    reported = fresh_incident("INC-IT-METRICS", group.group_id)
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    tasks = expected_tasks(reported, group)
    skatteverket = sorted(
        (t for t in tasks if t.recipient == "skatteverket"), key=lambda t: str(t.task_id)
    )
    assert len(skatteverket) >= 2
    done, acknowledged = skatteverket[0], skatteverket[1]
    complete_all(deployment, {str(done.task_id): done})
    acknowledgement = update(str(acknowledged.task_id), "skatteverket", TaskStatus.ACKNOWLEDGED)
    librdkafka_publish(
        deployment.bootstrap,
        deployment.topic("task-updates.skatteverket"),
        [
            (str(acknowledged.task_id), encode(acknowledgement)),
            ("INC-IT-METRICS-BAD", b"{not json"),
        ],
    )
    deployment.publish("incidents", [("INC-IT-METRICS-BAD", b"[]")])
    deployment.wait_for("rejected", lambda values: len(values) == 2)

    deadline = time.monotonic() + 60
    while True:
        samples = metric_samples(worker.web_url)
        counted = _value(samples, "gvi_tasks", recipient="skatteverket", status="completed")
        skipped = _value(samples, "gvi_deadline_ticks_total", outcome="skipped")
        if (counted == 1 and skipped) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    by_status: dict[tuple[str, str], int] = {}
    for task in tasks:
        status = {done.task_id: "completed", acknowledged.task_id: "acknowledged"}.get(
            task.task_id, "delivered"
        )
        by_status[(task.recipient, status)] = by_status.get((task.recipient, status), 0) + 1
    reported_tasks = {
        (dict(labels)["recipient"], dict(labels)["status"]): value
        for (name, labels), value in samples.items()
        if name == "gvi_tasks" and value
    }
    assert reported_tasks == by_status
    assert _value(samples, "gvi_tasks_overdue", recipient="skatteverket") == 0
    rejected = {
        dict(labels)["code"]: value
        for (name, labels), value in samples.items()
        if name == "gvi_rejections_total"
    }
    assert sum(rejected.values()) == 2, rejected
    assert _value(samples, "gvi_incident_dispatch_seconds_count") == 1
    assert (_value(samples, "gvi_incident_dispatch_seconds_sum") or 0) > 0
    lag = {
        dict(labels)["topic"] for (name, labels), _ in samples.items() if name == "gvi_consumer_lag"
    }
    assert deployment.topic("incidents") in lag
    assert _value(samples, "gvi_ready") == 1
    batches = _value(samples, "gvi_batch_messages_count", agent="incident-intake") or 0
    assert batches > 0, "each agent's batches are counted"
    # The worker's full collection once it is ready (before it freezes what exists) is timed.
    assert (_value(samples, "gvi_gc_pause_seconds_count", generation="2") or 0) >= 1
    assert (_value(samples, "gvi_gc_pause_seconds_sum", generation="2") or 0) > 0
    assert not any(name.startswith("faust_") for name, _ in samples), "faust's sensor is off"
    # The standard library's loop stays a choice: this whole scenario ran on it.
    assert '"event_loop": "asyncio.unix_events._UnixSelectorEventLoop"' in worker.log()
    # Every task is hours from its deadline and reminder point: after a pass over the table
    # (once the tables are recovered), the timer's ticks know that nothing can be due.
    assert (_value(samples, "gvi_deadline_ticks_total", outcome="pass") or 0) >= 1
    assert (_value(samples, "gvi_deadline_ticks_total", outcome="skipped") or 0) >= 1

    # The port Prometheus scrapes shows no table: faust's table and router pages are off.
    key = json.dumps(reported.incident_id)
    for path in (
        "/table",
        "/table/",
        "/table/tasks",
        f"/table/parked-incidents/{key}",
        f"/table/groups/{json.dumps(group.group_id)}",
        "/router",
        f"/router/tasks/{key}",
        "/graph",
        "/stats",
        "/performance",
    ):
        answer = httpx.get(f"{worker.web_url}{path}", timeout=5)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
        assert group.members[0].person_ref not in answer.text
    index = httpx.get(f"{worker.web_url}/", timeout=5)
    assert index.json() == {"status": "OK"}, "faust's fixed index page holds no data"


def test_readyz_is_false_while_the_tables_recover_and_true_after(deployment: Deployment) -> None:
    first = deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready")
    first.stop()
    # Fill the task table's changelog, so that the next worker's recovery takes a while.
    changelog = f"{deployment.settings.app_id}-tasks-changelog"
    filler = [(json.dumps(f"filler-{n:06d}").encode(), b'{"filler":true}') for n in range(60_000)]
    librdkafka_publish(deployment.bootstrap, changelog, filler, **{"linger.ms": "50"})

    second = deployment.start_worker()
    answers: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{second.web_url}/readyz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        answers.append({"status": answer.status_code, **answer.json()})
        if answer.status_code == 200:
            break
        time.sleep(0.1)
    assert answers, "the worker's web server never answered"
    assert answers[-1]["status"] == 200 and answers[-1]["ready"] is True
    recovering = [a for a in answers if a["recovering"]]
    assert recovering, f"never seen recovering: {answers[:5]}"
    assert all(a["status"] == 503 and a["ready"] is False for a in recovering)
    assert "Recovery complete" in second.log() or "Restore complete" in second.log()
    health = httpx.get(f"{second.web_url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["alive"] is True

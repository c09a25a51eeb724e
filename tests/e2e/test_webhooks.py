"""Webhook push as agencies meet it: a real gateway process pushing to real HTTP servers that
fail, throttle, hang, refuse connections and recover; signatures verified by the receiver."""

import base64
import time
from pathlib import Path

import pytest
import yaml

from events.codec import encode
from tests.support.agency_server import Agency, agency_server, verified
from tests.support.deployment import Deployment
from tests.support.gateway_stack import metric_samples, sample, started_stack
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.tools.embedded_broker import free_port

pytestmark = pytest.mark.broker
SECRETS = {
    recipient: "whsec_" + base64.b64encode(f"invented-secret-of-{recipient}".encode()).decode()
    for recipient in ("skatteverket", "kronofogden", "socialtjansten-huddinge", "forsakringskassan")
}


def _environment() -> dict[str, str]:
    return {_variable(r): secret for r, secret in SECRETS.items()}


def _variable(recipient: str) -> str:
    return "GVI_TEST_SECRET_" + recipient.upper().replace("-", "_")


def _webhooks_file(path: Path, urls: dict[str, str], **overrides: float) -> Path:
    document = {
        "allow_networks": ["127.0.0.0/8"],
        "webhooks": {
            recipient: {
                "url": url,
                "secret_env": _variable(recipient),
                "timeout_seconds": 1.0,
                "concurrency": 2,
                "max_attempts": 6,
                "first_backoff_seconds": 0.2,
                "longest_backoff_seconds": 2.0,
                "breaker_failures": 20,
                "breaker_open_seconds": 1.0,
                **overrides,
            }
            for recipient, url in urls.items()
        },
    }
    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


def _flaky(n: int, path: str) -> tuple[int, dict[str, str], float]:
    """500, 500, 429 (Retry-After: 1), an answer after the timeout, then 200 for good."""
    script = {1: (500, {}, 0.0), 2: (500, {}, 0.0), 3: (429, {"Retry-After": "1"}, 0.0)}
    if n in script:
        return script[n]
    if n == 4:
        return 200, {}, 1.6
    return 200, {}, 0.0


def test_webhooks_retry_until_delivered_escalate_a_dead_agency_and_delay_no_other(
    deployment: Deployment, tmp_path: Path
) -> None:
    agency = Agency(
        {
            "/skatteverket": _flaky,
            "/kronofogden": lambda n, p: (503, {}, 0.0),
            "/socialtjansten-huddinge": lambda n, p: (204, {}, 0.0),
        }
    )
    late_port = free_port()
    late = Agency({"/forsakringskassan": lambda n, p: (200, {}, 0.0)})
    group = notified_group("GRP-WH-A")
    reported = fresh_incident("INC-WH-1", group.group_id)
    expected = expected_tasks(reported, group)
    by_recipient = {r: {str(t.task_id) for t in expected if t.recipient == r} for r in SECRETS}
    assert all(by_recipient.values()), "the scenario must give each of these recipients tasks"
    with agency_server(agency) as url:
        webhooks = _webhooks_file(
            tmp_path / "webhooks.yaml",
            {
                "skatteverket": f"{url}/skatteverket",
                "kronofogden": f"{url}/kronofogden",
                "socialtjansten-huddinge": f"{url}/socialtjansten-huddinge",
                "forsakringskassan": f"http://127.0.0.1:{late_port}/forsakringskassan",
            },
        )
        with started_stack(deployment, _environment(), webhooks_file=webhooks) as stack:
            published = time.monotonic()
            deployment.register_groups(group)
            deployment.publish("incidents", [(reported.incident_id, encode(reported))])
            _wait(lambda: "ConnectError" in stack.log_path.read_text("utf-8"))
            with agency_server(late, late_port):  # the agency comes back after refusals
                _wait(lambda: _ids(late, "/forsakringskassan") >= by_recipient["forsakringskassan"])
            escalated = deployment.wait_for(
                "escalations",
                lambda values: (
                    {e["task_id"] for e in values if e["reason"] == "delivery_failed"}
                    >= by_recipient["kronofogden"]
                ),
                limit=120,
            )
            _wait(lambda: _ids(agency, "/skatteverket") >= by_recipient["skatteverket"])
            audit = deployment.wait_for(
                "audit",
                lambda values: (
                    {a["task_id"] for a in values if a["channel"] == "webhook"}
                    >= by_recipient["skatteverket"] | by_recipient["socialtjansten-huddinge"]
                ),
            )
            assert stack.gateway.poll() is None
            metrics = metric_samples(stack.base_url)

    attempts = "gvi_gateway_webhook_attempts_total"
    kronofogden = len(by_recipient["kronofogden"])
    assert sample(metrics, attempts, recipient="kronofogden", outcome="refused") == 6 * kronofogden
    assert sample(metrics, "gvi_gateway_webhook_failures_total", recipient="kronofogden") == (
        kronofogden
    )
    assert sample(metrics, "gvi_gateway_webhook_failures_total", recipient="skatteverket") == 0
    delivered = sample(metrics, attempts, recipient="socialtjansten-huddinge", outcome="delivered")
    assert delivered == len(by_recipient["socialtjansten-huddinge"])
    assert sample(metrics, attempts, recipient="skatteverket", outcome="refused") >= 3
    assert sample(metrics, attempts, recipient="forsakringskassan", outcome="unanswered") >= 1
    lagging = {
        dict(labels)["topic"] for name, labels in metrics if name == "gvi_gateway_read_model_lag"
    }
    assert deployment.topic("completion") in lagging

    for recipient in ("skatteverket", "socialtjansten-huddinge"):
        delivered = agency.delivered(f"/{recipient}")
        payloads = [verified(SECRETS[recipient], request) for request in delivered]
        assert {p["data"]["task_id"] for p in payloads} == by_recipient[recipient]
        assert len(delivered) == len(by_recipient[recipient]), "each task answered 2xx once"
        assert all(p["type"] == "task.delivered" for p in payloads)
        assert all("narrative" not in p["data"] for p in payloads)
    for request in agency.to("/skatteverket"):
        verified(SECRETS["skatteverket"], request)
    answered = [r.status for r in agency.to("/skatteverket")]
    assert answered[:3] == [500, 500, 429] and agency.to("/skatteverket")[3].late
    throttled = agency.to("/skatteverket")[2]
    again = next(
        r
        for r in agency.to("/skatteverket")[3:]
        if r.headers["webhook-id"] == throttled.headers["webhook-id"]
    )
    assert again.at - throttled.at >= 0.95, "Retry-After: 1 was honoured"

    dead = {e["task_id"] for e in escalated if e["reason"] == "delivery_failed"}
    assert dead == by_recipient["kronofogden"], "only the dead agency's tasks are escalated"
    assert len(agency.to("/kronofogden")) == 6 * len(by_recipient["kronofogden"])
    healthy_done = max(r.at for r in agency.delivered("/socialtjansten-huddinge"))
    assert healthy_done - published < 20, "the healthy agency had its tasks at once"
    assert healthy_done < max(r.at for r in agency.to("/kronofogden")), (
        "the healthy agency had all its tasks while the dead one was still being tried"
    )
    assert _ids(late, "/forsakringskassan") == by_recipient["forsakringskassan"]
    # Every attempt that carried a task is on gvi.audit, with its number, its outcome and the
    # receiving endpoint, the late answer (which the gateway never saw) among them.
    carried = len(agency.to("/skatteverket"))
    audit = deployment.wait_for(
        "audit",
        lambda values: (
            sum(
                a["channel"] == "webhook" and a["task_id"] in by_recipient["skatteverket"]
                for a in values
            )
            >= carried
        ),
    )
    attempts_audited = [
        a
        for a in audit
        if a["channel"] == "webhook" and a["task_id"] in by_recipient["skatteverket"]
    ]
    assert len(attempts_audited) == carried
    assert len({a["audit_id"] for a in attempts_audited}) == carried
    assert {a["receiver"] for a in attempts_audited} == {f"webhook:{url}/skatteverket"}
    outcomes = [a["outcome"] for a in attempts_audited]
    assert outcomes.count("delivered") == len(by_recipient["skatteverket"])
    assert outcomes.count("unanswered") >= 1, "the late answer is audited as unanswered"
    for task_id in by_recipient["skatteverket"]:
        numbers = sorted(a["attempt"] for a in attempts_audited if a["task_id"] == task_id)
        assert numbers == list(range(1, len(numbers) + 1))


def _ids(agency: Agency, path: str) -> set[str]:
    return {
        verified(SECRETS[path.strip("/")], request)["data"]["task_id"]
        for request in agency.delivered(path)
    }


def _wait(condition: object, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("the agency never received every task")
        time.sleep(0.2)


def test_a_gateway_killed_mid_delivery_resends_only_with_the_same_webhook_id(
    deployment: Deployment, tmp_path: Path
) -> None:
    slow = Agency({"/skatteverket": lambda n, p: (200, {}, 0.3)})
    groups = [notified_group(f"GRP-WH-K{n}") for n in range(6)]
    incidents = [fresh_incident(f"INC-WH-K{n}", g.group_id) for n, g in enumerate(groups)]
    wanted = {
        str(t.task_id)
        for reported, g in zip(incidents, groups, strict=True)
        for t in expected_tasks(reported, g)
        if t.recipient == "skatteverket"
    }
    with agency_server(slow) as url:
        webhooks = _webhooks_file(
            tmp_path / "webhooks.yaml",
            {"skatteverket": f"{url}/skatteverket"},
            concurrency=1,
        )
        environment = {"GVI_TEST_SECRET_SKATTEVERKET": SECRETS["skatteverket"]}
        with started_stack(deployment, environment, webhooks_file=webhooks) as stack:
            deployment.register_groups(*groups)
            deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents])
            _wait(lambda: len(slow.delivered("/skatteverket")) >= 3)
            stack.kill_gateway()
            at_kill = len(_ids(slow, "/skatteverket"))
            stack.restart_gateway(environment)
            _wait(lambda: _ids(slow, "/skatteverket") >= wanted)
    received = slow.delivered("/skatteverket")
    by_task: dict[str, set[str]] = {}
    for request in received:
        payload = verified(SECRETS["skatteverket"], request)
        by_task.setdefault(payload["data"]["task_id"], set()).add(request.headers["webhook-id"])
    assert set(by_task) == wanted
    assert all(len(ids) == 1 for ids in by_task.values()), "a re-send keeps its webhook-id"
    assert at_kill < len(wanted), "the gateway was killed in the middle of the deliveries"

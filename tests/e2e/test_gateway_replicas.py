"""Two gateway processes on one deployment, as behind a load balancer: a dashboard login made on
one works on the other and after a restart; an agency's cursor moves between them without
skipping a task; webhooks go on after one replica is SIGTERMed or SIGKILLed (time measured)."""

import base64
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import SecretStr

from events.codec import encode
from tests.support.agency_server import Agency, agency_server
from tests.support.deployment import Deployment
from tests.support.gateway_stack import Stack, _start, _wait_ready, started_stack
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.gateway.dashboard import SESSION_COOKIE
from workers.tools.embedded_broker import free_port

pytestmark = pytest.mark.broker
SESSION_KEY = "invented-session-key-shared-by-both-replicas"
SECRET = "whsec_" + base64.b64encode(b"invented-secret-of-socialtjansten-huddinge").decode()


@contextmanager
def second_replica(stack: Stack, environment: dict[str, str]) -> Iterator[Stack]:
    """Another gateway process of the same deployment: its own port, read model and folder."""
    port = free_port()
    own = stack.settings.model_copy(
        update={
            "gateway_port": port,
            "gateway_store": stack.deployment.tmp_path / "replica-2" / "gateway.sqlite",
            "data_dir": stack.deployment.tmp_path / "replica-2-data",
        }
    )
    log_path = stack.deployment.tmp_path / "gateway-2.log"
    replica = Stack(
        stack.deployment,
        f"http://127.0.0.1:{port}",
        stack.tokens,
        _start(own, log_path, environment),
        own,
        log_path,
    )
    try:
        _wait_ready(replica)
        yield replica
    finally:
        replica.stop()


def _log_in(stack: Stack) -> str:
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        answer = client.post("/login", data={"token": stack.tokens["supervisor"]})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return answer.cookies[SESSION_COOKIE]


def _overview(stack: Stack, cookie: str) -> int:
    with httpx.Client(
        base_url=stack.base_url, cookies={SESSION_COOKIE: cookie}, timeout=10
    ) as client:
        return client.get("/dashboard/overview").status_code


def _restart(stack: Stack, environment: dict[str, str]) -> None:
    os.kill(stack.gateway.pid, signal.SIGTERM)
    stack.gateway.wait(timeout=30)
    stack.restart_gateway(environment)


def _poll(stack: Stack, cursor: str | None) -> tuple[dict[str, str], str | None]:
    """Every page a poll gives, from `cursor`; the tasks shown and the cursor to go on with."""
    seen: dict[str, str] = {}
    with stack.client("agency:skatteverket") as client:
        while True:
            answer = client.get(
                "/api/v1/tasks", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            seen.update({task["task_id"]: task["status"] for task in page["tasks"]})
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return seen, cursor


def test_logins_and_cursors_work_on_every_replica_and_after_a_restart(
    deployment: Deployment,
) -> None:
    with (
        started_stack(deployment, gateway_session_secret=SecretStr(SESSION_KEY)) as first,
        second_replica(first, {}) as second,
    ):
        cookie = _log_in(first)
        assert _overview(second, cookie) == 200, "a login on one replica works on the other"
        _restart(second, {})
        assert _overview(second, cookie) == 200, "a restart keeps logins"
        assert _overview(first, cookie + "x") == 401

        groups = [notified_group(f"GRP-E2E-REPLICAS-{n}") for n in range(6)]
        deployment.register_groups(*groups)
        incidents = [fresh_incident(f"INC-E2E-REPLICAS-{n}", groups[n].group_id) for n in range(6)]
        expected = {
            str(task.task_id)
            for incident in incidents
            for task in expected_tasks(incident, *groups)
            if task.recipient == "skatteverket"
        }
        shown: dict[str, str] = {}
        cursor: str | None = None
        for number, incident in enumerate(incidents):
            deployment.publish("incidents", [(incident.incident_id, encode(incident))])
            seen, cursor = _poll((first, second)[number % 2], cursor)
            shown.update(seen)
        deadline = time.monotonic() + 90
        replicas = (first, second)
        turn = 0
        while set(shown) < expected and time.monotonic() < deadline:
            seen, cursor = _poll(replicas[turn % 2], cursor)
            shown.update(seen)
            turn += 1
            time.sleep(0.3)
        assert set(shown) == expected, f"{len(expected - set(shown))} tasks never listed"

        task_id = sorted(expected)[0]
        with first.client("agency:skatteverket") as client:
            acknowledged = client.post(
                f"/api/v1/tasks/{task_id}/status",
                json={
                    "schema_version": 1,
                    "task_id": task_id,
                    "recipient": "skatteverket",
                    "status": "acknowledged",
                    "changed_at": "2026-12-02T10:00:00+01:00",
                    "reported_by": "skatteverket-handlaggare-3",
                },
            )
        assert acknowledged.status_code == 202, acknowledged.text
        deadline = time.monotonic() + 60
        changed: dict[str, str] = {}
        while changed.get(task_id) != "acknowledged" and time.monotonic() < deadline:
            seen, cursor = _poll(second, cursor)
            changed.update(seen)
            time.sleep(0.3)
        assert changed == {task_id: "acknowledged"}, "the other replica lists just that change"


def _webhooks(path: Path, url: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "allow_networks": ["127.0.0.0/8"],
                "webhooks": {
                    "socialtjansten-huddinge": {
                        "url": url,
                        "secret_env": "GVI_TEST_SECRET_SOCIALTJANSTEN",
                        "timeout_seconds": 2.0,
                        "concurrency": 2,
                        "max_attempts": 6,
                    }
                },
            }
        ),
        "utf-8",
    )
    return path


def _delivered(agency: Agency) -> set[str]:
    import json

    delivered = agency.delivered("/socialtjansten-huddinge")
    return {json.loads(r.body)["data"]["task_id"] for r in delivered}


def _resumed_after(stack: Stack, agency: Agency, prefix: str, stop: signal.Signals) -> float:
    """Stop one replica with `stop`, publish at once, and measure until every new
    socialtjansten-huddinge task reached the agency through the other replica. Groups of their own:
    a group's earlier incidents would raise its tier, and the tasks with it."""
    groups = [notified_group(f"GRP-{prefix}-{n}") for n in range(4)]
    stack.deployment.register_groups(*groups)
    os.kill(stack.gateway.pid, stop)
    stack.gateway.wait(timeout=30)
    stopped = time.monotonic()
    incidents = [fresh_incident(f"{prefix}-{n}", groups[n].group_id) for n in range(4)]
    stack.deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents])
    wanted = {
        str(task.task_id)
        for incident in incidents
        for task in expected_tasks(incident, *groups)
        if task.recipient == "socialtjansten-huddinge"
    }
    deadline = stopped + 120
    while not wanted <= _delivered(agency):
        assert time.monotonic() < deadline, f"{len(wanted - _delivered(agency))} never pushed"
        time.sleep(0.1)
    return time.monotonic() - stopped


def test_webhooks_go_on_through_the_other_replica_after_sigterm_and_sigkill(
    deployment: Deployment, tmp_path: Path
) -> None:
    agency = Agency({"/socialtjansten-huddinge": lambda n, p: (204, {}, 0.0)})
    environment = {"GVI_TEST_SECRET_SOCIALTJANSTEN": SECRET}
    groups = [notified_group("GRP-E2E-FAILOVER-WARM")]
    with agency_server(agency) as url:
        webhooks = _webhooks(tmp_path / "webhooks.yaml", f"{url}/socialtjansten-huddinge")
        with (
            started_stack(deployment, environment, webhooks_file=webhooks) as first,
            second_replica(first, environment) as second,
        ):
            deployment.register_groups(*groups)
            warm = fresh_incident("INC-E2E-FAILOVER-WARM", groups[0].group_id)
            deployment.publish("incidents", [(warm.incident_id, encode(warm))])
            warm_tasks = {
                str(t.task_id)
                for t in expected_tasks(warm, *groups)
                if t.recipient == "socialtjansten-huddinge"
            }
            deadline = time.monotonic() + 90
            while not warm_tasks <= _delivered(agency):
                assert time.monotonic() < deadline, "webhooks never started"
                time.sleep(0.2)
            after_sigterm = _resumed_after(first, agency, "INC-E2E-TERM", signal.SIGTERM)
            first.restart_gateway(environment)
            time.sleep(3)  # both replicas in the group again
            after_sigkill = _resumed_after(second, agency, "INC-E2E-KILL", signal.SIGKILL)
            print(
                f"webhooks resumed {after_sigterm:.1f} s after a replica's SIGTERM and "
                f"{after_sigkill:.1f} s after a SIGKILL (publish to delivery, planning included)"
            )

"""The HTTP edge, hardened, as an attacker on loopback and a data-protection officer would try
it: what the dashboard discloses and audits, bad records, revocation, slow and large requests,
file modes, redaction at debug level, and the exact HTTP contract. Real processes, real broker."""

import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from events.codec import encode
from tests.support.deployment import Deployment, new_deployment
from tests.support.gateway_stack import Stack, metric_samples, started_stack
from tests.support.outside_clients import librdkafka_publish
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.gateway.credentials import add_token
from workers.tools.processes import settings_environment

pytestmark = pytest.mark.broker
NARRATIVE = "NARRATIVE-MARKER-7f3a invented"
PERSON = "P-MARKER-7F3A"


@pytest.fixture(scope="module")
def stack(broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker and gateway for the tests that share them (each uses its own incident and
    group; the revocation test touches only its own tokens and the kronofogden one)."""
    deployment = new_deployment(broker_url, tmp_path_factory.mktemp("hardening"))
    try:
        with started_stack(deployment, gateway_header_timeout_seconds=2.0) as built:
            yield built
    finally:
        for worker in deployment.workers:
            worker.stop()


def _json(model: Any) -> dict[str, Any]:
    return {"content": encode(model), "headers": {"Content-Type": "application/json"}}


def _marked_incident(incident_id: str, group_id: str) -> Any:
    return fresh_incident(incident_id, group_id, narrative=NARRATIVE, focus_person_refs=(PERSON,))


def _publish(stack: Stack, incident_id: str, group_id: str) -> tuple[Any, Any]:
    group = notified_group(group_id)
    reported = _marked_incident(incident_id, group_id)
    with stack.client("police") as police:
        registered = sum(w.log().count('"group registered"') for w in stack.deployment.workers)
        assert police.post("/api/v1/groups", **_json(group)).status_code == 202
        stack.deployment.wait_for_log('"group registered"', count=registered + 1)
        assert police.post("/api/v1/incidents", **_json(reported)).status_code == 202
    return group, reported


@contextmanager
def _session(stack: Stack) -> Iterator[httpx.Client]:
    """A browser-like client logged in as the supervisor (session cookie)."""
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        answer = client.post("/login", data={"token": stack.tokens["supervisor"]})
        assert answer.status_code == 303 and client.cookies.get("gvi_session")
        yield client


def test_the_dashboard_discloses_only_what_it_shows_and_each_read_is_audited(
    stack: Stack,
) -> None:
    group, reported = _publish(stack, "INC-HARD-1", "GRP-HARD-1")
    expected = expected_tasks(reported, group)
    stack.until(
        "supervisor",
        "/api/v1/incidents/INC-HARD-1",
        lambda s: s["tasks_total"] == len(s["tasks"]) == len(expected),
    )
    with _session(stack) as browser:
        detail = browser.get("/dashboard/incidents/INC-HARD-1")
        assert detail.status_code == 200
        assert detail.headers["cache-control"] == "no-store"
        text = detail.text
        for secret in (NARRATIVE, PERSON, "attributions", "focus_person_refs", "narrative"):
            assert secret not in text
        for member in group.members:
            assert member.person_ref not in text
        shown = detail.json()["views"]
        assert all(set(view) <= {"rule_id", "reason"} for view in shown.values())
        assert len(shown) == len(expected)
        # Read again unchanged: nothing new to audit.
        assert browser.get("/dashboard/incidents/INC-HARD-1").status_code == 200
    supervisor_id = stack.tokens["supervisor"].split("_")[1]
    audit = stack.deployment.wait_for(
        "audit",
        lambda v: sum(a["channel"] == "dashboard" for a in v) >= 2 * len(expected),
    )
    dashboard = [a for a in audit if a["channel"] == "dashboard"]
    assert {a["receiver"] for a in dashboard} == {f"token:{supervisor_id} (supervisor)"}
    assert {a["task_id"] for a in dashboard} == {str(t.task_id) for t in expected}
    detail_reads = [a for a in dashboard if "reason" in a["fields"]]
    assert len(detail_reads) == len(expected), "the unchanged re-read is not audited twice"
    assert all("narrative" not in a["fields"] for a in dashboard)
    kafka = [a for a in audit if a["channel"] == "kafka"]
    assert kafka and all(a["receiver"] == f"User:{a['recipient']}" for a in kafka)

    # Another supervisor only looks at the overview: each task line it shows is audited too.
    other = add_token(stack.settings.credentials_file, "supervisor")
    other_id = other.split("_")[1]
    with httpx.Client(base_url=stack.base_url, timeout=10) as browser:
        deadline = time.monotonic() + 10
        # A refused login is a 303 too (to /login?failed=1): wait for the session cookie.
        while browser.post("/login", data={"token": other}).headers.get("location") != "/":
            assert time.monotonic() < deadline, "the new token was never taken up"
            time.sleep(0.2)
        assert browser.cookies.get("gvi_session")
        overview = browser.get("/dashboard/overview")
        assert overview.status_code == 200
        assert NARRATIVE not in overview.text and PERSON not in overview.text
    audit = stack.deployment.wait_for(
        "audit",
        lambda v: (
            {a["task_id"] for a in v if a.get("receiver", "").startswith(f"token:{other_id}")}
            >= {str(t.task_id) for t in expected}
        ),
    )
    seen = [a for a in audit if a.get("receiver", "").startswith(f"token:{other_id}")]
    assert all(a["channel"] == "dashboard" and "status" in a["fields"] for a in seen)


def test_a_bad_record_on_an_output_topic_stops_no_gateway_and_no_page(stack: Stack) -> None:
    _publish(stack, "INC-HARD-2", "GRP-HARD-2")
    stack.until("supervisor", "/api/v1/incidents/INC-HARD-2", lambda s: s["tasks_total"] > 0)
    deployment = stack.deployment
    librdkafka_publish(
        deployment.bootstrap,
        deployment.topic("tasks.kronofogden"),
        [("bad-1", b"{}"), ("bad-2", b"not json"), (str(uuid.uuid4()), b'{"task_id": 1}')],
    )
    librdkafka_publish(
        deployment.bootstrap,
        deployment.topic("escalations"),
        [("bad-3", b'{"task_id": "x", "reason": "overdue"}'), ("bad-4", b"[]")],
    )
    stack.until("agency:kronofogden", "/api/v1/tasks", lambda page: len(page["tasks"]) >= 1)
    deadline = time.monotonic() + 30
    while True:
        samples = metric_samples(stack.base_url)
        bad = sum(
            value for (name, _), value in samples.items() if name == "gvi_gateway_bad_records_total"
        )
        if bad >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert bad == 5
    assert stack.gateway.poll() is None, "the gateway still runs"
    with stack.client("agency:kronofogden") as agency:
        page = agency.get("/api/v1/tasks", params={"limit": 500})
        assert page.status_code == 200
        assert all(t["recipient"] == "kronofogden" for t in page.json()["tasks"])
    with stack.client("supervisor") as supervisor:
        cursor = None
        for _ in range(20):
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            answer = supervisor.get("/api/v1/escalations", params=params)
            assert answer.status_code == 200, answer.text
            cursor = answer.json()["next_cursor"]
            if not answer.json()["has_more"]:
                break
        assert supervisor.get("/api/v1/incidents/INC-HARD-2").status_code == 200
    with _session(stack) as browser:
        assert browser.get("/dashboard/overview").status_code == 200
    assert "not json" not in stack.log_path.read_text()


def test_revoked_and_expired_tokens_and_logged_out_sessions_are_refused_within_seconds(
    stack: Stack,
) -> None:
    credentials = stack.settings.credentials_file
    short = add_token(credentials, "agency:skatteverket", timedelta(seconds=3))
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        mine = {"Authorization": f"Bearer {short}"}
        deadline = time.monotonic() + 10
        while client.get("/api/v1/tasks", headers=mine).status_code != 200:
            assert time.monotonic() < deadline, "the new token was never taken up"
            time.sleep(0.2)
        time.sleep(3.5)
        assert client.get("/api/v1/tasks", headers=mine).status_code == 401, "expired"

    token_id = stack.tokens["agency:kronofogden"].split("_")[1]
    environment = {**os.environ, **settings_environment(stack.settings)}
    listed = subprocess.run(
        [sys.executable, "-m", "workers.cli", "credentials", "list"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    assert token_id in listed.stdout and "sha256" not in listed.stdout
    revoked = subprocess.run(
        [sys.executable, "-m", "workers.cli", "credentials", "revoke", token_id],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr
    started = time.monotonic()
    with stack.client("agency:kronofogden") as agency:
        while agency.get("/api/v1/tasks").status_code != 401:
            assert time.monotonic() - started < 5, "the revoked token still works"
            time.sleep(0.1)

    with _session(stack) as browser:
        with browser.stream("GET", "/dashboard/events") as events:
            lines = events.iter_lines()
            assert any("ready" in line for line in lines if line)
            logged_out = httpx.post(
                f"{stack.base_url}/logout", cookies=dict(browser.cookies), timeout=10
            )
            assert logged_out.status_code == 303
            ended = time.monotonic()
            for _ in lines:
                assert time.monotonic() - ended < 10
        assert time.monotonic() - ended < 5, "the live stream ended after the logout"


def test_slow_headers_are_cut_off_and_a_huge_login_body_is_refused_unread(stack: Stack) -> None:
    host, port = stack.base_url.removeprefix("http://").split(":")
    slow = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
    for connection in slow:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    opened = time.monotonic()
    for connection in slow:
        connection.settimeout(max(8 - (time.monotonic() - opened), 0.1))
        assert connection.recv(1) == b"", "the gateway closed the slow connection"
        connection.close()
    assert time.monotonic() - opened < 8, "cut off within the 2 s header timeout (and slack)"
    assert httpx.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200

    before = _rss_kib(stack.gateway.pid)

    def body() -> Iterator[bytes]:
        chunk = b"token=" + b"A" * (1024 * 1024)
        for _ in range(128):
            yield chunk

    for _ in range(3):
        try:
            answer = httpx.post(
                f"{stack.base_url}/login",
                content=body(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=30,
            )
            assert answer.status_code == 413
        except httpx.TransportError:
            pass  # the gateway answered and closed while the client was still sending
    grown = _rss_kib(stack.gateway.pid) - before
    assert grown < 64 * 1024, f"the gateway grew by {grown} KiB"
    cross = httpx.post(
        f"{stack.base_url}/login",
        data={"token": stack.tokens["supervisor"]},
        headers={"Origin": "https://attacker.example"},
        timeout=10,
    )
    assert cross.status_code == 403


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_read_model_and_the_credentials_are_readable_by_their_owner_only(
    stack: Stack,
) -> None:
    _publish(stack, "INC-HARD-5", "GRP-HARD-5")
    stack.until("agency:skatteverket", "/api/v1/tasks", lambda page: len(page["tasks"]) >= 1)
    store = stack.settings.gateway_store
    assert store is not None
    files = [store, store.with_name(store.name + "-wal"), stack.settings.credentials_file]
    for path in files:
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700


def test_the_http_contract_is_exact(stack: Stack) -> None:
    group, reported = _publish(stack, "INC-HARD-6", "GRP-HARD-6")
    mine = {
        str(t.task_id) for t in expected_tasks(reported, group) if t.recipient == "skatteverket"
    }
    stack.until(
        "agency:skatteverket",
        "/api/v1/tasks",
        lambda page: {t["task_id"] for t in page["tasks"]} >= mine,
    )
    with stack.client("agency:skatteverket") as agency:
        # The same instant in two zones gives the same tasks; asked again until the read model
        # did not change between the answers (other incidents' statuses may still move).
        for _ in range(20):
            utc = agency.get("/api/v1/tasks", params={"since": "2026-01-01T04:00:00Z"}).json()
            winter = agency.get(
                "/api/v1/tasks", params={"since": "2026-01-01T05:00:00+01:00"}
            ).json()
            again = agency.get("/api/v1/tasks", params={"since": "2026-01-01T04:00:00Z"}).json()
            if again["tasks"] == utc["tasks"]:
                break
            time.sleep(0.5)
        assert utc["tasks"] and winter["tasks"] == utc["tasks"]
        huge = "czk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"  # base64 of s9999…
        for path in ("/api/v1/tasks",):
            answer = agency.get(path, params={"cursor": huge})
            assert answer.status_code == 400
            assert answer.headers["content-type"] == "application/problem+json"
        naive = agency.get("/api/v1/tasks", params={"since": "2026-01-01T05:00:00"})
        assert naive.status_code == 422
    with stack.client("supervisor") as supervisor:
        answer = supervisor.get("/api/v1/escalations", params={"cursor": huge})
        assert answer.status_code == 400
    with stack.client(None) as anyone:
        for method, path, status in (
            ("GET", "/api/v1/nothing-here", 404),
            ("DELETE", "/api/v1/tasks", 405),
            ("BREW", "/api/v1/tasks", 405),
            ("GET", "/api/v1/tasks/", 404),
        ):
            answer = anyone.request(method, path, headers={"Host": "evil.example"})
            assert answer.status_code == status, (method, path, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["status"] == status
            assert "location" not in answer.headers
            assert answer.headers["x-content-type-options"] == "nosniff"
    samples = metric_samples(stack.base_url)
    methods = {
        dict(labels)["method"]
        for (name, labels) in samples
        if name.startswith("gvi_gateway_requests")
    }
    assert "BREW" not in methods and "other" in methods


def test_a_gateway_started_before_the_worker_waits_then_serves(deployment: Deployment) -> None:
    credentials = deployment.tmp_path / "credentials.json"
    police = add_token(credentials, "police")
    from tests.support.gateway_stack import _start
    from workers.tools.embedded_broker import free_port

    port = free_port()
    own = deployment.settings.model_copy(
        update={
            "gateway_port": port,
            "credentials_file": credentials,
            "gateway_store": deployment.tmp_path / "gw" / "gateway.sqlite",
            "data_dir": deployment.tmp_path / "gateway-data",
        }
    )
    log_path = deployment.tmp_path / "gateway.log"
    gateway = _start(own, log_path, {})
    url = f"http://127.0.0.1:{port}"
    try:
        # Longer than the gateway's first wait for the topics (5 s): it must say it waits.
        waited_until = time.monotonic() + 12
        seen_waiting = False
        while time.monotonic() < waited_until:
            try:
                answer = httpx.get(f"{url}/readyz", timeout=2)
            except httpx.TransportError:
                time.sleep(0.3)
                continue
            assert answer.status_code == 503, "not ready before the topics exist"
            seen_waiting = True
            time.sleep(0.3)
        assert seen_waiting and gateway.poll() is None
        deployment.start_worker()
        deadline = time.monotonic() + 120
        while httpx.get(f"{url}/readyz", timeout=2).status_code != 200:
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            assert gateway.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.5)
        group = notified_group("GRP-HARD-LATE")
        answer = httpx.post(
            f"{url}/api/v1/groups",
            content=encode(group),
            headers={"Authorization": f"Bearer {police}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 202
        if os.environ.get("GVI_TEST_BROKER") == "kafka":  # Tansu creates a topic when asked
            assert "waiting for the worker to create the topics" in log_path.read_text()
    finally:
        gateway.terminate()
        gateway.wait(timeout=20)


def test_a_debug_run_logs_no_narrative_person_ref_or_token(deployment: Deployment) -> None:
    deployment.settings = deployment.settings.model_copy(update={"log_level": "debug"})
    with started_stack(deployment, log_level="debug") as stack:
        group, reported = _publish(stack, "INC-HARD-DEBUG", "GRP-HARD-DEBUG")
        members = [m.person_ref for m in group.members]
        expected = expected_tasks(reported, group)
        mine = {str(t.task_id) for t in expected if t.recipient == "skatteverket"}
        page = stack.until(
            "agency:skatteverket",
            "/api/v1/tasks",
            lambda p: {t["task_id"] for t in p["tasks"]} >= mine,
        )
        with stack.client("agency:skatteverket") as agency:
            task_id = page["tasks"][0]["task_id"]
            change = {
                "schema_version": 1,
                "task_id": task_id,
                "recipient": "skatteverket",
                "status": "acknowledged",
                "changed_at": "2026-11-23T12:00:00Z",
                "reported_by": "skv-handlaggare-7",
            }
            assert agency.post(f"/api/v1/tasks/{task_id}/status", json=change).status_code == 202
        with httpx.Client(base_url=stack.base_url, timeout=10) as anyone:
            anyone.get(
                "/api/v1/tasks", headers={"Authorization": "Bearer gvi_0123456789ab_" + "Q" * 43}
            )
        deployment.wait_for_done("task changed")
        logs = [stack.log_path, *(worker.log_path for worker in deployment.workers)]
    secrets = [NARRATIVE, PERSON, *members, *stack.tokens.values(), "Q" * 43]
    for path in logs:
        text = path.read_text("utf-8", errors="replace")
        assert len(text) > 10_000, f"{path.name} is a debug log"
        found = [secret for secret in secrets if secret in text]
        assert not found, f"{path.name} holds {found}"

"""The gateway as outside parties use it: a real broker, a real worker process, a real gateway
process, and HTTP clients holding police, agency and supervisor tokens."""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from events.codec import encode
from tests.support.deployment import Deployment
from tests.support.gateway_stack import Stack, metric_samples, sample, started_stack
from tests.support.scenario import expected_tasks, fresh_incident, notified_group

pytestmark = pytest.mark.broker

ON_TANSU = os.environ.get("GVI_TEST_BROKER", "tansu") == "tansu"


@pytest.fixture
def stack(deployment: Deployment) -> Iterator[Stack]:
    with started_stack(deployment) as built:
        yield built


def _json(model: Any) -> dict[str, Any]:
    return {"content": encode(model), "headers": {"Content-Type": "application/json"}}


def test_police_post_agencies_pull_and_report_supervisors_read(stack: Stack) -> None:
    group = notified_group("GRP-GW-A")
    reported = fresh_incident("INC-GW-1", group.group_id)
    expected = expected_tasks(reported, group)
    mine = {str(t.task_id) for t in expected if t.recipient == "skatteverket"}
    assert mine, "the scenario must give skatteverket tasks"
    with stack.client("police") as police:
        assert police.post("/api/v1/groups", **_json(group)).status_code == 202
        accepted = police.post("/api/v1/incidents", **_json(reported))
    assert accepted.status_code == 202
    assert accepted.json()["id"] == "INC-GW-1"

    page = stack.until(
        "agency:skatteverket", "/api/v1/tasks", lambda b: {t["task_id"] for t in b["tasks"]} == mine
    )
    on_kafka = stack.deployment.values("tasks.skatteverket")
    assert {v["task_id"] for v in on_kafka} == mine
    assert all(t["recipient"] == "skatteverket" for t in page["tasks"])
    for view in page["tasks"]:
        for secret in ("narrative", "attributions", "focus_person_refs", "group_member_refs"):
            assert secret not in view

    with stack.client("agency:skatteverket") as agency:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1}
            if cursor:
                params["cursor"] = cursor
            answer = agency.get("/api/v1/tasks", params=params).json()
            seen += [t["task_id"] for t in answer["tasks"]]
            cursor = answer["next_cursor"]
            if not answer["has_more"]:
                break
        polled = agency.get("/api/v1/tasks", params={"cursor": cursor}).json()
        assert polled["tasks"] == [] and polled["next_cursor"] == cursor, "nothing new yet"
        assert sorted(seen) == sorted(mine)
        assert agency.get("/api/v1/tasks", params={"status": "completed"}).json()["tasks"] == []
        delivered = agency.get("/api/v1/tasks", params={"status": "delivered"}).json()["tasks"]
        assert {t["task_id"] for t in delivered} == mine
        later = agency.get("/api/v1/tasks", params={"since": "2099-01-01T00:00:00Z"}).json()
        assert later["tasks"] == []
        earlier = agency.get("/api/v1/tasks", params={"since": "2020-01-01T00:00:00Z"}).json()
        assert {t["task_id"] for t in earlier["tasks"]} == mine
        task_id = sorted(mine)[0]
        assert agency.get(f"/api/v1/tasks/{task_id}").json()["task_id"] == task_id
        change = {
            "schema_version": 1,
            "task_id": task_id,
            "recipient": "skatteverket",
            "status": "acknowledged",
            "changed_at": "2026-11-23T12:00:00Z",
            "reported_by": "skv-handlaggare-7",
        }
        posted = agency.post(f"/api/v1/tasks/{task_id}/status", json=change)
        assert posted.status_code == 202, posted.text
        assert posted.json()["link"] == f"/api/v1/tasks/{task_id}"
    stack.until(
        "agency:skatteverket", f"/api/v1/tasks/{task_id}", lambda v: v["status"] == "acknowledged"
    )
    with stack.client("agency:skatteverket") as agency:
        backwards = agency.post(
            f"/api/v1/tasks/{task_id}/status", json={**change, "status": "delivered"}
        )
    assert backwards.status_code == 409
    assert "does not move backwards" in backwards.json()["detail"]

    with stack.client("agency:kronofogden") as other:
        assert other.get(f"/api/v1/tasks/{task_id}").status_code == 404
        assert other.post(f"/api/v1/tasks/{task_id}/status", json=change).status_code == 403
    updates = stack.deployment.values("task-updates.skatteverket")
    assert len(updates) == 1, "only the accepted status change reached its agency's topic"
    assert stack.deployment.values("task-updates.kronofogden") == []

    snapshot = stack.until(
        "supervisor", "/api/v1/incidents/INC-GW-1", lambda s: s["tasks_total"] == len(expected)
    )
    assert snapshot["incident_id"] == "INC-GW-1"

    audit = stack.deployment.wait_for(
        "audit",
        lambda values: {a["task_id"] for a in values if a["channel"] == "pull"} == mine,
    )
    pulled = [a for a in audit if a["channel"] == "pull"]
    per_task = {t: sum(a["task_id"] == t for a in pulled) for t in mine}
    assert per_task == {t: 2 if t == task_id else 1 for t in mine}, (
        "each task is audited once per state shown to the caller: the acknowledged task, read "
        "again after its change, twice"
    )
    assert len({a["audit_id"] for a in pulled}) == len(pulled)
    token_id = stack.tokens["agency:skatteverket"].split("_")[1]
    assert {a["receiver"] for a in pulled} == {f"token:{token_id} (agency:skatteverket)"}
    holds = "a gap in a partition's offsets is waited for" in stack.log_path.read_text("utf-8")
    assert holds is ON_TANSU, "the gateway's readers hold at gaps in offsets on Tansu only"


def test_callers_without_the_right_token_or_body_are_refused_and_nothing_is_sent(
    stack: Stack,
) -> None:
    reported = fresh_incident("INC-GW-2", "GRP-GW-B")
    with stack.client(None) as anonymous:
        missing = anonymous.get("/api/v1/tasks")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        forged = "gvi_000000000000_" + "A" * 43
        assert (
            anonymous.get(
                "/api/v1/tasks", headers={"Authorization": f"Bearer {forged}"}
            ).status_code
            == 401
        )
        assert anonymous.post("/api/v1/incidents", **_json(reported)).status_code == 401
    with stack.client("police") as police:
        assert police.get("/api/v1/tasks").status_code == 403
        assert police.get("/api/v1/escalations").status_code == 403
        bad_json = police.post(
            "/api/v1/incidents", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert bad_json.status_code == 422
        assert bad_json.json()["code"] == "malformed_json"
        wrong_types = reported.model_dump(mode="json") | {"version": "one", "occurred_at": 5}
        typed = police.post("/api/v1/incidents", json=wrong_types)
        assert typed.status_code == 422
        assert typed.json()["code"] == "schema_violation"
        assert {"version", "occurred_at"} <= set(typed.json()["fields"])
        huge = police.post(
            "/api/v1/incidents",
            content=b'{"x": "' + b"a" * 70_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413
        text = police.post(
            "/api/v1/incidents", content=encode(reported), headers={"Content-Type": "text/plain"}
        )
        assert text.status_code == 415
    for role in ("agency:skatteverket", "supervisor"):
        with stack.client(role) as caller:
            assert caller.post("/api/v1/incidents", **_json(reported)).status_code == 403
    with stack.client("supervisor") as supervisor:
        assert supervisor.get("/api/v1/tasks").status_code == 403
        assert supervisor.get("/api/v1/escalations").status_code == 200
        assert supervisor.get("/api/v1/incidents/INC-GW-NONE").status_code == 404
    assert stack.deployment.values("incidents") == [], "no refused request reached the topic"
    metrics = metric_samples(stack.base_url)
    requests = "gvi_gateway_requests_total"
    assert sample(metrics, requests, route="/api/v1/tasks", method="GET", code="401") == 2
    assert sample(metrics, requests, route="/api/v1/tasks", method="GET", code="403") == 2
    assert sample(metrics, requests, route="/api/v1/incidents", method="POST", code="422") == 2
    assert sample(metrics, requests, route="/api/v1/incidents", method="POST", code="413") == 1
    assert sample(metrics, requests, route="/api/v1/escalations", method="GET", code="200") == 1
    assert (
        sample(metrics, requests, route="/api/v1/incidents/{incident_id}", method="GET", code="404")
        == 1
    )

"""Each route of the gateway in process (httpx over ASGI, no broker): who may call it, the
problem documents of every refusal (401, 403, 404, 409, 413, 415, 422), and its cursors."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.catalogue import build_catalogue
from tests.support.builders import incident_fields
from tests.support.gateway import gateway_api, incident_records
from workers.gateway.credentials import add_token
from workers.gateway.read_model import ReadModel
from workers.gateway.server import topic_roles
from workers.policies import load_policy

POLICY = load_policy()
CATALOGUE = build_catalogue("gvi.", 4, POLICY.recipient_ids)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ROLES = ("police", "supervisor", "supervisor:orebro", "agency:skatteverket", "agency:kronofogden")


class Edge:
    """A gateway in process, a token per role, and what it produced."""

    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, str], sent: list[Any]) -> None:
        self.client, self.tokens, self.sent = client, tokens, sent

    async def call(
        self, method: str, path: str, role: str | None, **options: Any
    ) -> httpx.Response:
        headers = dict(options.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return await self.client.request(method, path, headers=headers, **options)

    def inputs(self) -> list[tuple[str, str, bytes]]:
        """What the gateway produced onto the input topics (not its audit of disclosures)."""
        return [sent for sent in self.sent if sent[0] != CATALOGUE.gateway_events.name]


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    model = await ReadModel.open(tmp_path / "gateway.sqlite", topic_roles(CATALOGUE))
    await model.apply(incident_records(CATALOGUE, POLICY, "INC-ROUTE-1", "open", NOW), NOW)
    await model.apply(incident_records(CATALOGUE, POLICY, "INC-ROUTE-DONE", "done", NOW), NOW)
    credentials = tmp_path / "credentials.json"
    tokens = {role: add_token(credentials, role) for role in ROLES}
    sent: list[tuple[str, str, bytes]] = []
    app = gateway_api(CATALOGUE, credentials, model, sent=sent)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield Edge(client, tokens, sent)
    await model.close()


def _problem(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status and problem["title"]
    if code is not None:
        assert problem.get("code") == code
    return problem


def _incident_body(**overrides: Any) -> bytes:
    fields = incident_fields(**overrides)
    fields["attributions"] = [a.model_dump(mode="json") for a in fields["attributions"]]
    return json.dumps({"kind": "reported", **fields}, default=str).encode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/incidents"),
        ("POST", "/api/v1/groups"),
        ("GET", "/api/v1/tasks"),
        ("GET", "/api/v1/incidents/INC-ROUTE-1"),
        ("GET", "/api/v1/escalations"),
    ],
)
async def test_no_token_is_401_with_a_bearer_challenge(edge: Edge, method: str, path: str) -> None:
    answer = await edge.call(method, path, None)
    _problem(answer, 401)
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "/api/v1/incidents", "agency:skatteverket"),
        ("POST", "/api/v1/groups", "supervisor"),
        ("GET", "/api/v1/tasks", "police"),
        ("GET", "/api/v1/incidents/INC-ROUTE-1", "agency:skatteverket"),
        ("GET", "/api/v1/escalations", "police"),
    ],
)
async def test_another_role_is_403(edge: Edge, method: str, path: str, role: str) -> None:
    _problem(await edge.call(method, path, role, content=b"{}"), 403)
    assert edge.inputs() == []


async def test_police_post_an_incident_onto_gvi_incidents(edge: Edge) -> None:
    headers = {"Content-Type": "application/json"}
    body = _incident_body(incident_id="INC-ROUTE-2")
    answer = await edge.call("POST", "/api/v1/incidents", "police", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["link"] == "/api/v1/incidents/INC-ROUTE-2"
    [(topic, key, _value)] = edge.inputs()
    assert (topic, key) == (CATALOGUE.incidents.name, "INC-ROUTE-2")


async def test_a_body_of_another_type_is_415_and_a_large_one_413(edge: Edge) -> None:
    plain = {"Content-Type": "text/plain"}
    json_type = {"Content-Type": "application/json"}
    _problem(
        await edge.call("POST", "/api/v1/incidents", "police", content=b"x", headers=plain), 415
    )
    large = b"{" + b" " * 5000 + b"}"
    _problem(
        await edge.call("POST", "/api/v1/incidents", "police", content=large, headers=json_type),
        413,
    )
    assert edge.inputs() == []


async def test_an_invalid_incident_is_422_naming_its_field(edge: Edge) -> None:
    body = _incident_body(incident_id="INC-ROUTE-3", version=0)
    answer = await edge.call(
        "POST",
        "/api/v1/incidents",
        "police",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    problem = _problem(answer, 422, "schema_violation")
    assert "version" in problem["fields"]
    assert edge.inputs() == []


async def _own_task(edge: Edge, status: str = "created") -> dict[str, Any]:
    answer = await edge.call("GET", "/api/v1/tasks", "agency:skatteverket")
    assert answer.status_code == 200
    [task, *_] = [task for task in answer.json()["tasks"] if task["status"] == status]
    return dict(task)


async def test_an_agency_sees_its_own_tasks_and_no_other(edge: Edge) -> None:
    task = await _own_task(edge)
    assert task["recipient"] == "skatteverket"
    path = f"/api/v1/tasks/{task['task_id']}"
    assert (await edge.call("GET", path, "agency:skatteverket")).status_code == 200
    _problem(await edge.call("GET", path, "agency:kronofogden"), 404)


async def test_a_status_change_is_checked_then_produced_onto_the_agencys_own_topic(
    edge: Edge,
) -> None:
    task = await _own_task(edge)
    path = f"/api/v1/tasks/{task['task_id']}/status"
    completed = await _own_task(edge, "completed")
    path_of_completed = f"/api/v1/tasks/{completed['task_id']}/status"
    json_type = {"Content-Type": "application/json"}

    def change(**fields: Any) -> bytes:
        base = {
            "task_id": task["task_id"],
            "recipient": "skatteverket",
            "status": "acknowledged",
            "changed_at": "2026-06-01T12:00:00Z",
            "reported_by": "handlaggare-test",
        }
        return json.dumps(base | fields).encode()

    backwards = change(task_id=completed["task_id"])
    _problem(
        await edge.call(
            "POST", path_of_completed, "agency:skatteverket", content=backwards, headers=json_type
        ),
        409,
        "invalid_transition",
    )
    other = change(recipient="kronofogden")
    _problem(
        await edge.call("POST", path, "agency:skatteverket", content=other, headers=json_type),
        403,
        "wrong_agency",
    )
    mismatch = change(task_id="00000000-0000-4000-8000-000000000000")
    _problem(
        await edge.call("POST", path, "agency:skatteverket", content=mismatch, headers=json_type),
        422,
        "key_mismatch",
    )
    assert edge.inputs() == []
    answer = await edge.call(
        "POST", path, "agency:skatteverket", content=change(), headers=json_type
    )
    assert answer.status_code == 202, answer.text
    [(topic, key, _value)] = edge.inputs()
    assert (topic, key) == (CATALOGUE.task_updates["skatteverket"].name, task["task_id"])


async def test_task_pages_follow_their_cursor_without_a_gap_or_a_repeat(edge: Edge) -> None:
    everything = (await edge.call("GET", "/api/v1/tasks", "agency:skatteverket")).json()["tasks"]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (
            await edge.call("GET", "/api/v1/tasks", "agency:skatteverket", params=params)
        ).json()
        seen += [task["task_id"] for task in page["tasks"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(task["task_id"] for task in everything)
    assert len(seen) == len(set(seen)) >= 1
    again = await edge.call(
        "GET", "/api/v1/tasks", "agency:skatteverket", params={"cursor": cursor}
    )
    assert again.json()["tasks"] == []
    _problem(
        await edge.call(
            "GET", "/api/v1/tasks", "agency:skatteverket", params={"cursor": "nonsense"}
        ),
        400,
    )
    _problem(
        await edge.call("GET", "/api/v1/tasks", "agency:skatteverket", params={"limit": 0}),
        422,
        "schema_violation",
    )


async def test_a_supervisor_reads_incidents_in_scope_only(edge: Edge) -> None:
    answer = await edge.call("GET", "/api/v1/incidents/INC-ROUTE-1", "supervisor")
    assert answer.status_code == 200 and answer.json()["incident_id"] == "INC-ROUTE-1"
    _problem(await edge.call("GET", "/api/v1/incidents/INC-ROUTE-1", "supervisor:orebro"), 404)
    _problem(await edge.call("GET", "/api/v1/incidents/INC-NONE", "supervisor"), 404)
    escalations = await edge.call("GET", "/api/v1/escalations", "supervisor")
    assert escalations.status_code == 200 and escalations.json()["escalations"] == []
    _problem(
        await edge.call("GET", "/api/v1/escalations", "supervisor", params={"cursor": "x"}), 400
    )


async def test_an_unknown_route_and_method_are_problem_documents(edge: Edge) -> None:
    _problem(await edge.call("GET", "/api/v1/nothing", "police"), 404)
    _problem(await edge.call("DELETE", "/api/v1/tasks", "agency:skatteverket"), 405)
    probes = [await edge.call("GET", path, None) for path in ("/healthz", "/readyz")]
    assert [probe.status_code for probe in probes] == [200, 200]

"""What the gateway shows of a task is audited first, with the worker's facts, even while it
has read a completion snapshot or an escalation before the task's own record, or the task
before the worker's audit record of it (one consumer reads the completion, escalation, audit
and task topics in no set order): a supervisor is not shown such a task until it can be
audited with its legal basis, and an agency's pull waits for the facts its view leaves out."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.catalogue import build_catalogue
from schemas.escalation import Escalation, EscalationReason
from schemas.gateway_event import GatewayEvent
from tests.support.gateway import gateway_api, incident_records
from workers.gateway.credentials import CredentialsFile, add_token
from workers.gateway.disclosure import Disclosures, Send, supervisor_event
from workers.gateway.live import live_updates
from workers.gateway.read_model import AUDIT_FACTS, ReadModel
from workers.gateway.read_store import Record
from workers.gateway.server import topic_roles
from workers.policies import load_policy

POLICY = load_policy()
CATALOGUE = build_catalogue("gvi.", 4, POLICY.recipient_ids)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
BASE = "http://127.0.0.1:8080"


class Seen:
    """A gateway in process over a read model that holds an incident's snapshot and all but
    one of its tasks' records (`late`, read after)."""

    def __init__(self, model: ReadModel, late: Record, credentials: Path) -> None:
        self.model, self.late, self.credentials = model, late, credentials
        self.token = add_token(credentials, "supervisor")
        self.sent: list[tuple[str, str, bytes]] = []
        self.app = gateway_api(CATALOGUE, credentials, model, sent=self.sent)

    @property
    def late_id(self) -> str:
        assert self.late.value is not None
        return str(self.late.value["task_id"])

    def audited(self) -> list[str]:
        """The task ids of the disclosures the gateway sent for the worker to audit, in order."""
        events = [
            GatewayEvent.model_validate_json(value)
            for topic, _, value in self.sent
            if topic == CATALOGUE.gateway_events.name
        ]
        return [str(event.audit.task_id) for event in events if event.audit is not None]

    def client(self, session: bool = False) -> httpx.AsyncClient:
        headers = {} if session else {"Authorization": f"Bearer {self.token}"}
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)


@pytest.fixture
async def seen(tmp_path: Path) -> AsyncIterator[Seen]:
    model = await ReadModel.open(tmp_path / "gateway.sqlite", topic_roles(CATALOGUE))
    records = incident_records(CATALOGUE, POLICY, "INC-LATE-1", "open", NOW)
    late = records[0]
    await model.apply(records[1:], NOW)
    yield Seen(model, late, tmp_path / "credentials.json")
    await model.close()


def _lines(snapshot: dict[str, Any]) -> set[str]:
    return {line["task_id"] for line in snapshot["tasks"]}


async def test_a_snapshot_lists_a_task_only_once_its_view_is_read(seen: Seen) -> None:
    async with seen.client() as client:
        answer = await client.get("/api/v1/incidents/INC-LATE-1")
    assert answer.status_code == 200
    snapshot = answer.json()
    total = snapshot["tasks_total"]
    assert total > 1 and len(snapshot["tasks"]) == total - 1
    assert snapshot["tasks_omitted"] == 1, "the task not read yet is counted, not listed"
    assert seen.late_id not in answer.text
    assert sorted(seen.audited()) == sorted(_lines(snapshot)), "each line shown is audited"

    await seen.model.apply([seen.late], NOW)
    async with seen.client() as client:
        again = (await client.get("/api/v1/incidents/INC-LATE-1")).json()
    assert len(again["tasks"]) == total and again["tasks_omitted"] == 0
    assert seen.audited().count(seen.late_id) == 1, "shown now, audited now"
    assert set(seen.audited()) == _lines(again)


async def test_the_dashboard_pages_show_only_audited_lines(seen: Seen) -> None:
    async with seen.client(session=True) as browser:
        assert (await browser.post("/login", data={"token": seen.token})).status_code == 303
        overview = (await browser.get("/dashboard/overview")).json()
        [incident] = overview["incidents"]
        assert seen.late_id not in _lines(incident) and incident["tasks_omitted"] == 1
        assert set(seen.audited()) == _lines(incident)
        detail = (await browser.get("/dashboard/incidents/INC-LATE-1")).json()
        assert seen.late_id not in _lines(detail["snapshot"])
        assert set(detail["views"]) == _lines(detail["snapshot"])
        assert detail["waiting"] == 1, "the page asks again while a task is not listed yet"
        assert seen.late_id not in seen.audited()

        await seen.model.apply([seen.late], NOW)
        detail = (await browser.get("/dashboard/incidents/INC-LATE-1")).json()
        assert seen.late_id in _lines(detail["snapshot"]) and seen.late_id in detail["views"]
        assert detail["waiting"] == 0
        assert seen.late_id in seen.audited()


def _escalation(task_id: str, detected_at: datetime) -> dict[str, Any]:
    escalation = Escalation(
        task_id=uuid.UUID(task_id),
        incident_id="INC-LATE-1",
        recipient="skatteverket",
        reason=EscalationReason.OVERDUE,
        deadline=detected_at,
        detected_at=detected_at,
        message="invented: past its deadline",
    )
    return dict(json.loads(escalation.model_dump_json()))


async def test_an_escalation_page_waits_for_its_tasks_view(seen: Seen) -> None:
    known = next(iter(await seen.model.views_of_incident("INC-LATE-1")))
    topic = CATALOGUE.escalations.name
    gone = str(uuid.uuid4())
    await seen.model.apply(
        [
            Record(topic, 0, 0, _escalation(gone, NOW - timedelta(hours=2))),
            Record(topic, 0, 1, _escalation(known, NOW)),
            Record(topic, 0, 2, _escalation(seen.late_id, NOW)),
            Record(topic, 0, 3, _escalation(known, NOW + timedelta(minutes=1))),
        ],
        NOW,
    )
    async with seen.client() as client:
        first = (await client.get("/api/v1/escalations")).json()
        listed = [e["task_id"] for e in first["escalations"]]
        assert listed == [gone, known], "an old one whose task expired holds nothing back"
        assert not first["has_more"]
        waiting = await client.get("/api/v1/escalations", params={"cursor": first["next_cursor"]})
        assert waiting.json()["escalations"] == [], "held back until its task is read"
        assert seen.late_id not in seen.audited()

        await seen.model.apply([seen.late], NOW)
        after = await client.get("/api/v1/escalations", params={"cursor": first["next_cursor"]})
        assert [e["task_id"] for e in after.json()["escalations"]] == [seen.late_id, known]
        assert seen.late_id in seen.audited()
    assert gone not in seen.audited(), "no view, no legal basis: it cannot be audited"


async def test_a_live_update_carries_only_what_was_audited(seen: Seen) -> None:
    caller = CredentialsFile.open(seen.credentials).caller(seen.token)
    assert caller is not None
    disclosures = Disclosures(lambda: seen.model, _keep(seen.sent), CATALOGUE.gateway_events.name)
    raw = _completion("open", NOW).value
    assert raw is not None and seen.late_id in _lines(raw), "the snapshot names every task"
    sent = await supervisor_event(disclosures, caller, "incident", raw)
    assert sent is not None and seen.late_id not in _lines(sent)
    assert sent["tasks_omitted"] == 1 and set(seen.audited()) == _lines(sent)
    escalation = _escalation(seen.late_id, NOW)
    assert await supervisor_event(disclosures, caller, "escalation", escalation) is None

    await seen.model.apply([seen.late], NOW)
    assert await supervisor_event(disclosures, caller, "escalation", escalation) == escalation
    sent = await supervisor_event(disclosures, caller, "incident", raw)
    assert sent == raw and seen.late_id in seen.audited()


class Live:
    """The dashboard's live stream of `seen`'s model to its supervisor, rechecked often."""

    def __init__(self, seen: Seen) -> None:
        caller = CredentialsFile.open(seen.credentials).caller(seen.token)
        assert caller is not None
        disclosures = Disclosures(
            lambda: seen.model, _keep(seen.sent), CATALOGUE.gateway_events.name
        )

        async def audited(kind: str, value: dict[str, Any]) -> dict[str, Any] | None:
            return await supervisor_event(disclosures, caller, kind, value)

        self.stream = live_updates(seen.model, lambda: True, audited, recheck_seconds=0.05)

    async def next(self, seconds: float = 5) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(seconds):
            event = await anext(self.stream)
        return str(event.event), json.loads(str(event.data))


def _completion(progress: str, at: datetime) -> Record:
    [completion] = [
        r
        for r in incident_records(CATALOGUE, POLICY, "INC-LATE-1", progress, at)
        if r.topic == CATALOGUE.completion.name
    ]
    return completion


async def test_the_live_stream_sends_again_what_it_left_out(seen: Seen) -> None:
    live = Live(seen)
    assert (await live.next())[0] == "ready"
    escalation = _escalation(seen.late_id, NOW)
    await seen.model.apply(
        [_completion("open", NOW), Record(CATALOGUE.escalations.name, 0, 0, escalation)], NOW
    )
    kind, first = await live.next()
    assert kind == "incident" and seen.late_id not in _lines(first)
    assert first["tasks_omitted"] == 1, "the escalation of the task not read yet is held back"

    await seen.model.apply([seen.late], NOW)
    again = dict([await live.next(), await live.next()])
    assert set(again) == {"incident", "escalation"}, "both sent once the task is read"
    assert again["incident"]["tasks_omitted"] == 0 and seen.late_id in _lines(again["incident"])
    assert again["escalation"] == escalation
    assert seen.audited().count(seen.late_id) == 2, "its line and its escalation, audited"
    await live.stream.aclose()


async def test_the_live_stream_sends_again_only_the_newest_snapshot(seen: Seen) -> None:
    live = Live(seen)
    await live.next()
    for progress, at in (("open", NOW), ("done", NOW + timedelta(minutes=1))):
        await seen.model.apply([_completion(progress, at)], at)
        assert (await live.next())[1]["progress"] == progress
    await seen.model.apply([seen.late], NOW)
    kind, whole = await live.next()
    assert kind == "incident" and whole["progress"] == "done" and whole["tasks_omitted"] == 0
    with pytest.raises(TimeoutError):
        await live.next(0.5)  # the older snapshot is not sent after the newer one
    await live.stream.aclose()


def _keep(sent: list[tuple[str, str, bytes]]) -> Send:
    async def send(topic: str, key: str, value: bytes) -> None:
        sent.append((topic, key, value))

    return send


async def test_a_pull_is_audited_with_the_facts_its_view_leaves_out(tmp_path: Path) -> None:
    """An allowlist without the incident, the policy version and the rule: the task's record
    is read before the worker's audit record of it; the pull waits for the feed."""
    model = await ReadModel.open(tmp_path / "gateway.sqlite", topic_roles(CATALOGUE))
    records = incident_records(CATALOGUE, POLICY, "INC-FACTS-1", "open", NOW)
    record = next(r for r in records if r.topic == CATALOGUE.tasks["skatteverket"].name)
    assert record.value is not None
    full = record.value
    left_out = ("incident_id", "policy_version", "rule_id")
    bare = {name: value for name, value in full.items() if name not in left_out}
    await model.apply([Record(record.topic, 0, 0, bare)], NOW)
    facts = {"task_id": full["task_id"], **{name: full[name] for name in AUDIT_FACTS}}

    async def audit_read_later() -> None:
        await asyncio.sleep(0.3)
        await model.apply([Record(CATALOGUE.audit.name, 0, 0, facts)], NOW)

    credentials = tmp_path / "credentials.json"
    token = add_token(credentials, "agency:skatteverket")
    sent: list[tuple[str, str, bytes]] = []
    app = gateway_api(CATALOGUE, credentials, model, sent=sent)
    later = asyncio.create_task(audit_read_later())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        answer = await client.get(f"/api/v1/tasks/{full['task_id']}")
    await later
    await model.close()
    assert answer.status_code == 200 and not set(left_out) & set(answer.json())
    [event] = [GatewayEvent.model_validate_json(v) for t, _, v in sent]
    assert event.audit is not None and event.audit.channel.value == "pull"
    recorded = {name: getattr(event.audit, name) for name in left_out}
    assert recorded == {name: full[name] for name in left_out}, "not `unknown`"

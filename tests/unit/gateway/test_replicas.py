"""Several gateway replicas, in process: a read model rebuilt from the topics in any order of
reading equals the live one on every task's status; an agency's cursor taken from one replica
to another never skips a change; a dashboard login is valid on every replica that shares the
session key and after a restart; /metrics behind its token, with a latency histogram."""

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.catalogue import build_catalogue
from events.codec import encode
from schemas.incident import IncidentReported
from tests.support.gateway import gateway_api
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.core.partnerships import policy_for_incident
from workers.core.policy import Policy
from workers.core.projection import project_task
from workers.gateway.credentials import add_token, revoke_token
from workers.gateway.cursors import Cursor
from workers.gateway.dashboard import SESSION_COOKIE
from workers.gateway.metrics import GatewayMetrics
from workers.gateway.read_model import ReadModel
from workers.gateway.read_store import Record
from workers.gateway.server import topic_roles
from workers.policies import load_policy

POLICY = load_policy()
PARTITIONS = 2


def _policy(reported: IncidentReported) -> Policy:
    return policy_for_incident(POLICY, reported)


CATALOGUE = build_catalogue("gvi.", PARTITIONS, POLICY.recipient_ids, PARTITIONS)
ROLES = topic_roles(CATALOGUE)
RECIPIENT = "skatteverket"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LATER = ("acknowledged", "in_progress", "completed")


def _history(incidents: int, seed: int) -> list[Record]:
    """What the worker wrote, per topic partition in offset order: each task when sent, and
    completion snapshots of each incident as agencies move their tasks on (some cancelled)."""
    chance = random.Random(seed)
    offsets: dict[tuple[str, int], int] = {}
    records: list[Record] = []

    def write(topic: str, partition: int, value: dict[str, Any]) -> None:
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        records.append(Record(topic, partition, offset, value, 1_780_000_000_000 + len(records)))

    for number in range(incidents):
        group = notified_group(f"GRP-REPLICA-{number}")
        reported = fresh_incident(f"INC-REPLICA-{number}", group.group_id)
        tasks = expected_tasks(reported, group)
        statuses = {str(task.task_id): "created" for task in tasks}
        for task in tasks:
            view = json.loads(encode(project_task(task, reported, group, _policy(reported))))
            write(CATALOGUE.tasks[task.recipient].name, chance.randrange(PARTITIONS), view)
        completion = chance.randrange(PARTITIONS)
        for _ in range(chance.randrange(1, 5)):
            for task_id in statuses:
                step = statuses[task_id]
                if step in ("created", *LATER[:-1]) and chance.random() < 0.5:
                    statuses[task_id] = LATER[LATER.index(step) + 1 if step in LATER else 0]
            snapshot = {
                "incident_id": reported.incident_id,
                "progress": "open",
                "updated_at": NOW.isoformat(),
                "tasks": [{"task_id": t, "status": s} for t, s in statuses.items()],
            }
            write(CATALOGUE.completion.name, completion, snapshot)
        if chance.random() < 0.2:  # the incident is retracted: open tasks are cancelled
            for task in tasks:
                if statuses[str(task.task_id)] != "completed":
                    view = json.loads(
                        encode(project_task(task, reported, group, _policy(reported)))
                    ) | {"status": "cancelled"}
                    partition = next(
                        r.partition
                        for r in records
                        if r.value and r.value.get("task_id") == str(task.task_id)
                    )
                    write(CATALOGUE.tasks[task.recipient].name, partition, view)
                    statuses[str(task.task_id)] = "cancelled"
            write(
                CATALOGUE.completion.name,
                completion,
                {
                    "incident_id": reported.incident_id,
                    "progress": "cancelled",
                    "updated_at": NOW.isoformat(),
                    "tasks": [{"task_id": t, "status": s} for t, s in statuses.items()],
                },
            )
    return records


def _interleaving(records: list[Record], seed: int) -> list[Record]:
    """The same records as another reader meets them: each partition in its own order, the
    partitions of all topics interleaved at random (as a consumer fetches them)."""
    chance = random.Random(seed)
    queues: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        queues.setdefault((record.topic, record.partition), []).append(record)
    mixed: list[Record] = []
    while queues:
        key = chance.choice(sorted(queues))
        mixed.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    return mixed


async def _model(path: Path) -> ReadModel:
    """A new read model file (hypothesis runs an example more than once: never reuse one)."""
    return await ReadModel.open(path.with_name(f"{uuid.uuid4()}-{path.name}"), ROLES)


async def _statuses(model: ReadModel) -> dict[str, str]:
    async with model.connection.execute("SELECT task_id, status FROM tasks") as rows:
        return {row[0]: row[1] async for row in rows}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), order=st.integers(0, 10_000))
async def test_a_rebuilt_read_model_equals_the_live_one_on_every_status(
    tmp_path: Path, seed: int, order: int
) -> None:
    history = _history(4, seed)
    live = await _model(tmp_path / f"live-{seed}-{order}.sqlite")
    rebuilt = await _model(tmp_path / f"rebuilt-{seed}-{order}.sqlite")
    try:
        for record in history:  # as the records were written
            await live.apply([record], NOW)
        mixed = _interleaving(history, order)
        for start in range(0, len(mixed), 7):  # as a fresh replica fetches them
            await rebuilt.apply(mixed[start : start + 7], NOW)
        assert await _statuses(rebuilt) == await _statuses(live)
        assert len(await _statuses(live)) == len(
            {r.value["task_id"] for r in history if r.value and "task_id" in r.value}
        )
    finally:
        await live.close()
        await rebuilt.close()


async def _poll_all(
    model: ReadModel, cursor: Cursor | None, limit: int
) -> tuple[dict[str, str], Cursor]:
    seen: dict[str, str] = {}
    while True:
        page = await model.tasks_of(RECIPIENT, None, None, cursor, limit)
        seen.update({view["task_id"]: view["status"] for view in page.items})
        assert page.next_cursor is not None
        cursor = Cursor.decode(page.next_cursor, 2 * PARTITIONS)
        if not page.has_more:
            return seen, cursor


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), limit=st.sampled_from([1, 3, 50]))
async def test_a_cursor_taken_from_replica_to_replica_never_skips_a_change(
    tmp_path: Path, seed: int, limit: int
) -> None:
    """Two replicas read the same topics at their own pace, in their own order; an agency
    polls one or the other at random with the cursor it was last given. Whatever it was shown
    last of each task is that task's final status, and it saw every task."""
    history = _history(5, seed)
    first = await _model(tmp_path / f"a-{seed}-{limit}.sqlite")
    second = await _model(tmp_path / f"b-{seed}-{limit}.sqlite")
    try:
        feeds = [
            (first, _interleaving(history, seed + 1)),
            (second, _interleaving(history, seed + 2)),
        ]
        chance = random.Random(seed)
        shown: dict[str, str] = {}
        cursor: Cursor | None = None
        while any(pending for _, pending in feeds):
            for model, pending in feeds:
                step = chance.randrange(0, 9)
                batch, pending[:] = pending[:step], pending[step:]
                if batch:
                    await model.apply(batch, NOW)
            replica = chance.choice([first, second])
            seen, cursor = await _poll_all(replica, cursor, limit)
            shown.update(seen)
        for replica in (first, second, first):
            seen, cursor = await _poll_all(replica, cursor, limit)
            shown.update(seen)
        final = {
            task_id: status
            for task_id, status in (await _statuses(first)).items()
            if (await first.task(task_id) or {}).get("recipient") == RECIPIENT
        }
        assert final, "the history gave this recipient no task"
        assert shown == final
    finally:
        await first.close()
        await second.close()


async def test_a_task_read_while_an_agency_polls_is_listed_once(tmp_path: Path) -> None:
    """A poll that comes while a batch is being folded lists it whole or not at all. Before,
    a page read mid-batch showed its rows before the read positions moved past them, and the
    cursor it gave listed them again (a second replica listed 4 unchanged tasks beside the
    one acknowledged, e2e on Apache Kafka)."""
    history = _history(2, 5)
    late = [r for r in history if r.value is not None and r.value.get("recipient") == RECIPIENT]
    model = await _model(tmp_path / "polled.sqlite")
    folded, resume = asyncio.Event(), asyncio.Event()
    fold = model._fold

    async def fold_then_pause(record: Record, received_at: datetime) -> None:
        await fold(record, received_at)
        if record is late[-1]:
            folded.set()
            await resume.wait()

    model._fold = fold_then_pause  # type: ignore[method-assign]
    try:
        await model.apply([r for r in history if r is not late[-1]], NOW)
        before, cursor = await _poll_all(model, None, 50)
        assert late[-1].value is not None and late[-1].value["task_id"] not in before
        batch = asyncio.create_task(model.apply([late[-1], *late[:-1]], NOW))
        await folded.wait()  # the batch is half folded: its positions have not moved
        poll = asyncio.create_task(_poll_all(model, cursor, 50))
        await asyncio.sleep(0.2)
        resume.set()
        await batch
        during, cursor = await poll
        after, _ = await _poll_all(model, cursor, 50)
        task_id = late[-1].value["task_id"]
        assert during == {task_id: (await model.task(task_id) or {}).get("status")}
        assert after == {}, "listed again from the cursor of the poll that listed it"
    finally:
        await model.close()


async def test_an_agency_update_backwards_is_refused_on_a_rebuilt_replica(tmp_path: Path) -> None:
    """The rebuilt replica read the snapshot (completed) before the task itself: it still
    knows the task is completed, and refuses to move it back (409), like the live one."""
    history = _history(1, 3)
    snapshot = [r for r in history if r.topic == CATALOGUE.completion.name]
    tasks = [r for r in history if r.topic != CATALOGUE.completion.name]
    finished = json.loads(json.dumps(snapshot[-1].value))
    target = next(t for t in tasks if t.value and t.value["recipient"] == RECIPIENT)
    assert target.value is not None
    for line in finished["tasks"]:
        line["status"] = "completed"
    completed = Record(snapshot[-1].topic, snapshot[-1].partition, 99, finished, None)
    model = await _model(tmp_path / "rebuilt.sqlite")
    try:
        await model.apply([completed, *tasks], NOW)
        assert (await model.task(target.value["task_id"]) or {}).get("status") == "completed"
        transport, tokens = _edge(tmp_path, model, f"agency:{RECIPIENT}")
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answer = await client.post(
                f"/api/v1/tasks/{target.value['task_id']}/status",
                json={
                    "schema_version": 1,
                    "task_id": target.value["task_id"],
                    "recipient": RECIPIENT,
                    "status": "acknowledged",
                    "changed_at": NOW.isoformat(),
                    "reported_by": "handlaggare-7",
                },
                headers={"Authorization": f"Bearer {tokens}"},
            )
        assert answer.status_code == 409, answer.text
    finally:
        await model.close()


def _edge(
    tmp_path: Path, model: ReadModel, role: str, key: str = "k" * 64
) -> tuple[httpx.ASGITransport, str]:
    credentials = tmp_path / "credentials.json"
    token = add_token(credentials, role)
    return httpx.ASGITransport(app=_api(credentials, model, key)), token


def _api(credentials: Path, model: ReadModel, key: str) -> FastAPI:
    return gateway_api(CATALOGUE, credentials, model, key)


@pytest.fixture
async def model(tmp_path: Path) -> AsyncIterator[ReadModel]:
    opened = await _model(tmp_path / "store" / "gateway.sqlite")
    yield opened
    await opened.close()


async def test_a_login_on_one_replica_is_valid_on_another_and_after_a_restart(
    model: ReadModel, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials.json"
    token = add_token(credentials, "supervisor")
    token_id = token.split("_")[1]
    key = "shared-session-key-" + "x" * 40
    first, second, restarted = (_api(credentials, model, key) for _ in range(3))
    stranger = _api(credentials, model, "another-key-" + "y" * 40)
    base = "http://127.0.0.1:8080"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url=base) as client:
        login = await client.post("/login", data={"token": token})
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = client.cookies[SESSION_COOKIE]
    secret = token.split("_", 2)[2]  # token_urlsafe: the secret may hold "_" itself
    assert token not in cookie and secret not in cookie, "the cookie names no secret"
    for app, expected in ((second, 200), (restarted, 200), (stranger, 401)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base, cookies={SESSION_COOKIE: cookie}
        ) as client:
            answer = await client.get("/dashboard/overview")
            assert answer.status_code == expected, answer.text
    tampered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second), base_url=base, cookies={SESSION_COOKIE: tampered}
    ) as client:
        assert (await client.get("/dashboard/overview")).status_code == 401
    revoke_token(credentials, token_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_api(credentials, model, key)),
        base_url=base,
        cookies={SESSION_COOKIE: cookie},
    ) as client:
        assert (await client.get("/dashboard/overview")).status_code == 401, "revoked: ended"


async def test_metrics_ask_for_their_token_and_time_each_route(
    model: ReadModel, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials.json"
    add_token(credentials, "supervisor")
    api = _api(credentials, model, "k" * 64)
    metrics = GatewayMetrics()

    async def lag() -> dict[tuple[str, int], int]:
        return {("gvi.completion", 0): 3}

    metrics.expose(api, api, lag, lambda: False, "metrics-token-" + "z" * 20)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://127.0.0.1"
    ) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer metrics-token-wrong"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer metrics-token-" + "z" * 20}
        answer = await client.get("/metrics", headers=right)
    assert answer.status_code == 200
    text = answer.text
    assert 'gvi_gateway_request_seconds_count{method="GET",route="/healthz"} 1.0' in text
    assert "gvi_gateway_ready 0.0" in text
    assert 'gvi_gateway_read_model_lag{partition="0",topic="gvi.completion"} 3.0' in text


async def test_a_task_record_that_never_comes_holds_a_listing_back_for_an_hour_only(
    tmp_path: Path,
) -> None:
    """A snapshot's status of a task whose record is not read holds the round's end back on
    its completion partition; one an hour older than the newest snapshot (its record expired
    or was forgotten) holds nothing back, so cursors still move on."""
    hour_ms = 3_600_000
    start_ms = 1_780_000_000_000

    def snapshot(offset: int, task_id: str, at_ms: int) -> Record:
        value = {
            "incident_id": f"INC-PENDING-{offset}",
            "progress": "open",
            "updated_at": NOW.isoformat(),
            "tasks": [{"task_id": task_id, "status": "acknowledged"}],
        }
        return Record(CATALOGUE.completion.name, 0, offset, value, at_ms)

    model = await _model(tmp_path / "pending.sqlite")
    try:
        await model.apply(
            [
                snapshot(0, "00000000-0000-5000-8000-000000000001", start_ms),
                snapshot(1, "00000000-0000-5000-8000-000000000002", start_ms + 2 * hour_ms),
                snapshot(2, "00000000-0000-5000-8000-000000000003", start_ms + 2 * hour_ms),
            ],
            NOW,
        )
        page = await model.tasks_of(RECIPIENT, None, None, None, 10)
        assert page.items == [] and page.next_cursor is not None
        since = Cursor.decode(page.next_cursor, 2 * PARTITIONS).since
        assert since[PARTITIONS] == 1, "held at the recent unread task, not the stale one"
    finally:
        await model.close()

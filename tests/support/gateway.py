"""The gateway's API and dashboard in process, on a read model, for tests without a broker;
and read-model records of one invented incident, as the worker's topics would carry them."""

import json
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from events.catalogue import Catalogue
from events.codec import encode
from schemas.task import TaskStatus
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.core.completion import completion_snapshot
from workers.core.partnerships import policy_for_incident
from workers.core.policy import Policy
from workers.core.projection import project_task
from workers.gateway.app import create_api
from workers.gateway.credentials import CredentialsFile
from workers.gateway.dashboard import Sessions
from workers.gateway.deps import Gateway
from workers.gateway.disclosure import Disclosures
from workers.gateway.read_model import ReadModel
from workers.gateway.read_store import Record


def gateway_api(
    catalogue: Catalogue,
    credentials: Path,
    model: ReadModel,
    session_key: str = "k" * 64,
    sent: list[tuple[str, str, bytes]] | None = None,
) -> FastAPI:
    """A gateway app that is always ready; what it produces is kept in `sent` (or dropped)."""

    async def send(topic: str, key: str, value: bytes) -> None:
        if sent is not None:
            sent.append((topic, key, value))

    async def reachable() -> bool:
        return True

    gateway = Gateway(
        catalogue=catalogue,
        model=model,
        credentials=CredentialsFile.open(credentials),
        send=send,
        ready=lambda: True,
        max_body_bytes=4096,
        broker_reachable=reachable,
        disclosures=Disclosures(lambda: model, send, catalogue.gateway_events.name),
        sessions=Sessions(lambda: session_key),
    )
    return create_api(gateway)


def incident_records(
    catalogue: Catalogue, base: Policy, incident_id: str, progress: str, updated_at: datetime
) -> list[Record]:
    """Every task view of an invented incident on its recipient's topic, and its completion
    snapshot at `updated_at`: every task completed (`done`) or none yet (`open`)."""
    group = notified_group(f"GRP-{incident_id}")
    reported = fresh_incident(incident_id, group.group_id)
    policy = policy_for_incident(base, reported)
    tasks = expected_tasks(reported, group)
    records = []
    for offset, task in enumerate(tasks):
        view = project_task(task, reported, group, policy)
        records.append(
            Record(catalogue.tasks[task.recipient].name, 0, offset, json.loads(encode(view)))
        )
    status = TaskStatus.COMPLETED if progress == "done" else TaskStatus.CREATED
    lines = [task.model_copy(update={"status": status}) for task in tasks]
    snapshot = completion_snapshot(
        incident_id, 1, policy.policy_version, lines, updated_at, policy.partnership
    )
    assert snapshot.progress.value == progress
    records.append(Record(catalogue.completion.name, 0, len(tasks), json.loads(encode(snapshot))))
    return records

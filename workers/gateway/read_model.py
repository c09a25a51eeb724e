"""The gateway's read model: the latest view of every task, each incident's last completion
snapshot and the escalations, kept in SQLite from the output topics, with the topic positions
they were read up to (in the same transaction, so a restart resumes exactly)."""

import asyncio
import json
import os
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from schemas.task import TaskStatus
from workers.core.lifecycle import moves_on
from workers.gateway.pages import CursorPages
from workers.gateway.read_store import (
    SCHEMA,
    SCHEMA_VERSION,
    Record,
    TopicRoles,
    drop_if_outdated,
    instant,
    owner_only_folder,
)


class ReadModel(CursorPages):
    """The SQLite file of one gateway replica (each replica builds the whole model)."""

    def __init__(self, connection: aiosqlite.Connection, topics: "TopicRoles") -> None:
        self.connection = connection
        self.topics = topics
        self.listeners: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        """Each live dashboard's queue: (`incident` | `escalation`, value) as they are folded."""
        self.folding = asyncio.Lock()
        """Held while a batch is folded and while a cursor's page is read. The connection
        shows a batch's rows before its read positions move: a page read in between listed
        them, and the cursor it gave listed them again (or, for escalations, skipped them)."""

    @classmethod
    async def open(cls, path: Path, topics: "TopicRoles") -> "ReadModel":
        """Open (or create) the file: owner-only, in an owner-only folder (SQLite gives its WAL
        and shared-memory files the database file's mode); deleted rows are overwritten."""
        owner_only_folder(path.parent)
        await asyncio.to_thread(drop_if_outdated, path)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        connection = await aiosqlite.connect(path)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA secure_delete=ON")
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.executescript(SCHEMA)
        await connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        await connection.commit()
        return cls(connection, topics)

    async def close(self) -> None:
        await self.connection.close()

    async def forget_closed(self, before: datetime) -> int:
        """Delete what the model holds of every incident that closed (done or cancelled)
        before `before`: its snapshot, its tasks' views, audit facts, disclosures and
        escalations. Returns how many incidents were forgotten."""
        async with self.connection.execute(
            "SELECT incident_id FROM incidents WHERE json_extract(snapshot, '$.progress') "
            "IN ('done', 'cancelled', 'no_action') "
            "AND julianday(json_extract(snapshot, '$.updated_at')) < julianday(?)",
            (instant(before),),
        ) as cursor:
            closed = [row[0] async for row in cursor]
        for incident_id in closed:
            tasks = "SELECT task_id FROM tasks WHERE json_extract(view, '$.incident_id') = ?"
            for table in ("audit_facts", "disclosures", "disclosed_views", "reported"):
                await self.connection.execute(
                    f"DELETE FROM {table} WHERE task_id IN ({tasks})", (incident_id,)
                )
            await self.connection.execute(
                "DELETE FROM escalations WHERE json_extract(escalation, '$.incident_id') = ?",
                (incident_id,),
            )
            await self.connection.execute(
                "DELETE FROM tasks WHERE json_extract(view, '$.incident_id') = ?", (incident_id,)
            )
            await self.connection.execute(
                "DELETE FROM incidents WHERE incident_id = ?", (incident_id,)
            )
        await self.connection.execute(
            "DELETE FROM reported WHERE julianday(at) < julianday(?) AND NOT EXISTS "
            "(SELECT 1 FROM tasks t WHERE t.task_id = reported.task_id)",
            (instant(before),),
        )
        await self.connection.commit()
        return len(closed)

    async def apply(self, records: Iterable[Record], received_at: datetime) -> None:
        """Fold a batch of records into the model and move the positions past them, at once."""
        async with self.folding:
            moved: dict[tuple[str, int], int] = {}
            news: list[tuple[str, dict[str, Any]]] = []
            for record in records:
                moved[(record.topic, record.partition)] = record.offset + 1
                if record.value is not None:
                    await self._fold(record, received_at)
                    role = self.topics.role_of(record.topic)
                    if role == "completion":
                        news.append(("incident", record.value))
                    elif role == "escalations":
                        news.append(("escalation", record.value))
            await self.connection.executemany(
                "INSERT INTO positions (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(topic, partition, offset) for (topic, partition), offset in moved.items()],
            )
            await self.connection.commit()
        for listener in list(self.listeners):
            for item in news:
                if listener.qsize() < LISTENER_BACKLOG:
                    listener.put_nowait(item)

    async def overview(self) -> list[dict[str, Any]]:
        """Every incident's last snapshot with its municipality (from a task view that carries
        it), newest first."""
        async with self.connection.execute(
            "SELECT i.snapshot, (SELECT json_extract(t.view, '$.municipality') FROM tasks t "
            "WHERE json_extract(t.view, '$.incident_id') = i.incident_id "
            "AND json_extract(t.view, '$.municipality') IS NOT NULL LIMIT 1) "
            "FROM incidents i ORDER BY json_extract(i.snapshot, '$.updated_at') DESC"
        ) as cursor:
            return [json.loads(row[0]) | {"municipality": row[1]} async for row in cursor]

    async def views_of_incident(self, incident_id: str) -> dict[str, dict[str, Any]]:
        """The task views of one incident, by task id (their reason, rule and deadline)."""
        async with self.connection.execute(
            "SELECT task_id, view FROM tasks WHERE json_extract(view, '$.incident_id') = ?",
            (incident_id,),
        ) as cursor:
            return {row[0]: json.loads(row[1]) async for row in cursor}

    async def views(self, task_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored views of these tasks, by task id (those the model holds)."""
        wanted = sorted(set(task_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            async with self.connection.execute(
                f"SELECT task_id, view FROM tasks WHERE task_id IN ({marks})", chunk
            ) as cursor:
                found.update({row[0]: json.loads(row[1]) async for row in cursor})
        return found

    async def all_escalations(self, limit: int = 500) -> list[dict[str, Any]]:
        """The latest escalations and reminders, oldest first."""
        async with self.connection.execute(
            "SELECT escalation FROM escalations ORDER BY seq DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = [json.loads(row[0]) async for row in cursor]
        return rows[::-1]

    async def _fold(self, record: Record, received_at: datetime) -> None:
        value = record.value
        assert value is not None
        role = self.topics.role_of(record.topic)
        at = instant(record.moment(received_at))
        if role == "tasks":
            await self.connection.execute(
                "INSERT INTO tasks (task_id, recipient, status, changed_at, view, sent_status, "
                "sent_partition, sent_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, "
                "changed_at = excluded.changed_at, view = excluded.view, "
                "sent_status = excluded.sent_status, sent_partition = excluded.sent_partition, "
                "sent_offset = excluded.sent_offset",
                (
                    value["task_id"],
                    value["recipient"],
                    value["status"],
                    at,
                    json.dumps(value),
                    value["status"],
                    record.partition,
                    record.offset,
                ),
            )
            await self._settle(value["task_id"])
        elif role == "audit":
            facts = {name: value.get(name) for name in AUDIT_FACTS}
            await self.connection.execute(
                "INSERT INTO audit_facts (task_id, facts) VALUES (?, ?) "
                "ON CONFLICT (task_id) DO NOTHING",
                (value["task_id"], json.dumps(facts)),
            )
        elif role == "completion":
            await self.connection.execute(
                "INSERT INTO incidents (incident_id, snapshot) VALUES (?, ?) "
                "ON CONFLICT (incident_id) DO UPDATE SET snapshot = excluded.snapshot",
                (value["incident_id"], json.dumps(value)),
            )
            await self._statuses_from(value, record, at)
        elif role == "escalations":
            await self.connection.execute(
                "INSERT INTO escalations (partition, offset, escalation) VALUES (?, ?, ?) "
                "ON CONFLICT (partition, offset) DO NOTHING",
                (record.partition, record.offset, json.dumps(value)),
            )

    async def _statuses_from(self, snapshot: dict[str, Any], record: Record, at: str) -> None:
        """A recipient's topic carries a task when it is sent and when it is cancelled; the
        statuses agencies report in between reach the model through the completion snapshots,
        which list each task's status. They are kept per task whether or not its own record
        was read yet (a rebuild can read a snapshot first), and the first snapshot of a status
        that moves on is where the change happened: the same record on every replica."""
        lines = {
            line["task_id"]: line["status"]
            for line in snapshot.get("tasks", ())
            if line["status"] != TaskStatus.CREATED.value
        }
        if not lines:
            return
        marks = ",".join("?" * len(lines))
        async with self.connection.execute(
            f"SELECT task_id, status FROM reported WHERE task_id IN ({marks})", tuple(lines)
        ) as cursor:
            known = {row[0]: row[1] async for row in cursor}
        for task_id, status in lines.items():
            before = known.get(task_id)
            if before is not None and not moves_on(TaskStatus(before), TaskStatus(status)):
                continue
            await self.connection.execute(
                "INSERT INTO reported (task_id, status, partition, offset, at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
                "status = excluded.status, partition = excluded.partition, "
                "offset = excluded.offset, at = excluded.at",
                (task_id, status, record.partition, record.offset, at),
            )
            await self._settle(task_id)

    async def _settle(self, task_id: str) -> None:
        """A task's status and view from its last record and the statuses reported of it: the
        reported one where it moves on from the record's, so that the order in which the two
        topics were read changes nothing."""
        async with self.connection.execute(
            "SELECT t.sent_status, t.view, t.changed_at, r.status, r.partition, r.offset, r.at "
            "FROM tasks t JOIN reported r ON r.task_id = t.task_id WHERE t.task_id = ?",
            (task_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return
        sent, view, changed_at, reported, partition, offset, at = tuple(row)
        if not moves_on(TaskStatus(sent), TaskStatus(reported)):
            await self.connection.execute(
                "UPDATE tasks SET reported_partition = NULL, reported_offset = NULL "
                "WHERE task_id = ?",
                (task_id,),
            )
            return
        settled = json.loads(view) | {"status": reported}
        await self.connection.execute(
            "UPDATE tasks SET status = ?, view = ?, changed_at = ?, reported_partition = ?, "
            "reported_offset = ? WHERE task_id = ?",
            (reported, json.dumps(settled), max(changed_at, at), partition, offset, task_id),
        )

    async def task(self, task_id: str) -> dict[str, Any] | None:
        async with self.connection.execute(
            "SELECT view FROM tasks WHERE task_id = ?", (task_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row is not None else None

    async def incident(self, incident_id: str) -> "IncidentShown | None":
        """An incident's last snapshot, listing only the tasks whose view the model holds
        (`only_held`), with those views."""
        async with self.connection.execute(
            "SELECT snapshot FROM incidents WHERE incident_id = ?", (incident_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        snapshot = json.loads(row[0])
        views = await self.views_of_incident(incident_id)
        shown = only_held(snapshot, views)
        waiting = len(snapshot.get("tasks", ())) - len(shown.get("tasks", ()))
        return IncidentShown(shown, views, waiting)

    async def audit_facts(self, task_id: str) -> dict[str, Any] | None:
        async with self.connection.execute(
            "SELECT facts FROM audit_facts WHERE task_id = ?", (task_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row is not None else None

    async def undisclosed(self, shown: list[tuple[str, str]], token_id: str) -> list[str]:
        """Of (task id, view digest) pairs, the task ids whose view in that state was not
        yet shown to the caller with this token (a view that changed is shown anew)."""
        known: set[tuple[str, str]] = set()
        ids = sorted({task_id for task_id, _ in shown})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            async with self.connection.execute(
                f"SELECT task_id, digest FROM disclosed_views WHERE token_id = ? "
                f"AND task_id IN ({marks})",
                (token_id, *chunk),
            ) as cursor:
                known.update({(row[0], row[1]) async for row in cursor})
        return [task_id for task_id, digest in shown if (task_id, digest) not in known]

    async def mark_disclosed(self, shown: list[tuple[str, str]], token_id: str) -> None:
        await self.connection.executemany(
            "INSERT OR IGNORE INTO disclosed_views (task_id, token_id, digest) VALUES (?, ?, ?)",
            [(task_id, token_id, digest) for task_id, digest in shown],
        )
        await self.connection.commit()


LISTENER_BACKLOG = 1000
"""A dashboard that falls this far behind misses updates until it reloads (never blocks)."""

AUDIT_FACTS = ("incident_id", "legal_basis", "policy_version", "rule_id")
"""What the gateway keeps of the worker's audit record of a task, to audit its own
disclosures of that task with the same legal basis."""


@dataclass(frozen=True)
class IncidentShown:
    """An incident as the gateway may show it: its snapshot without the lines of tasks whose
    view it does not hold yet (`waiting` of them), and the views of its tasks by task id."""

    snapshot: dict[str, Any]
    views: dict[str, dict[str, Any]]
    waiting: int


def only_held(snapshot: dict[str, Any], held: Container[str]) -> dict[str, Any]:
    """A completion snapshot as the gateway shows it: only the task lines whose view it holds,
    so that each line shown is audited with its task's legal basis. The others (their task's
    record not read yet: the gateway reads the completion and task topics in one consumer, in
    no set order) are counted in `tasks_omitted` until it is."""
    lines = snapshot.get("tasks", [])
    listed = [line for line in lines if str(line.get("task_id")) in held]
    if len(listed) == len(lines):
        return snapshot
    omitted = snapshot.get("tasks_omitted", 0) + len(lines) - len(listed)
    return snapshot | {"tasks": listed, "tasks_omitted": omitted}


def lines_of(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every task line of these completion snapshots."""
    return [line for snapshot in snapshots for line in snapshot.get("tasks", ())]

"""The gateway's read model: the latest view of every task, each incident's last completion
snapshot and the escalations, kept in SQLite from the output topics, with the topic positions
they were read up to (in the same transaction, so a restart resumes exactly)."""

import asyncio
import base64
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from schemas.task import TaskStatus
from workers.core.lifecycle import moves_on

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    seq INTEGER NOT NULL,
    changed_at TEXT NOT NULL,
    view TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_recipient ON tasks (recipient, seq);
CREATE TABLE IF NOT EXISTS audit_facts (
    task_id TEXT PRIMARY KEY,
    facts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS escalations (
    seq INTEGER PRIMARY KEY,
    escalation TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS disclosures (
    task_id TEXT NOT NULL,
    token_id TEXT NOT NULL,
    PRIMARY KEY (task_id, token_id)
);
CREATE TABLE IF NOT EXISTS disclosed_views (
    task_id TEXT NOT NULL,
    token_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (task_id, token_id, digest)
);
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


@dataclass(frozen=True)
class Record:
    """One message read from an output topic."""

    topic: str
    partition: int
    offset: int
    value: dict[str, Any] | None


@dataclass(frozen=True)
class Page:
    """Some rows of a list in change order; the cursor after the last of them (to ask for
    what follows, now or later); whether more follow already."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool


def owner_only_folder(folder: Path) -> None:
    """Create `folder` readable by its owner only, or make it so."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def instant(moment: datetime) -> str:
    """A moment as the read model stores it: UTC, always with microseconds, so that text order
    is time order whatever offset a caller wrote (`+01:00` or `Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor names; raises ValueError for one this gateway did not make."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except ValueError:
        text = ""
    if not text.startswith("s") or not text[1:].isdigit() or len(text) > 20:
        raise ValueError("not a cursor of this API")
    position = int(text[1:])
    if position >= 2**62:  # SQLite's integers end at 2**63 - 1
        raise ValueError("not a cursor of this API")
    return position


class ReadModel:
    """The SQLite file of one gateway replica (each replica builds the whole model)."""

    def __init__(self, connection: aiosqlite.Connection, topics: "TopicRoles") -> None:
        self.connection = connection
        self.topics = topics
        self.seq = 0
        self.listeners: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        """Each live dashboard's queue: (`incident` | `escalation`, value) as they are folded."""

    @classmethod
    async def open(cls, path: Path, topics: "TopicRoles") -> "ReadModel":
        """Open (or create) the file: owner-only, in an owner-only folder (SQLite gives its WAL
        and shared-memory files the database file's mode); deleted rows are overwritten."""
        owner_only_folder(path.parent)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        connection = await aiosqlite.connect(path)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA secure_delete=ON")
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.executescript(SCHEMA)
        model = cls(connection, topics)
        async with connection.execute(
            "SELECT MAX(seq) FROM (SELECT seq FROM tasks UNION ALL SELECT seq FROM escalations)"
        ) as cursor:
            row = await cursor.fetchone()
        model.seq = int(row[0] or 0) if row is not None else 0
        return model

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
            for table in ("audit_facts", "disclosures", "disclosed_views"):
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
        await self.connection.commit()
        return len(closed)

    async def positions(self) -> dict[tuple[str, int], int]:
        async with self.connection.execute(
            "SELECT topic, partition, next_offset FROM positions"
        ) as cursor:
            return {(row[0], row[1]): row[2] async for row in cursor}

    async def apply(self, records: Iterable[Record], received_at: datetime) -> None:
        """Fold a batch of records into the model and move the positions past them, at once."""
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
        if role == "tasks":
            self.seq += 1
            await self.connection.execute(
                "INSERT INTO tasks (task_id, recipient, status, seq, changed_at, view) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
                "status = excluded.status, seq = excluded.seq, "
                "changed_at = excluded.changed_at, view = excluded.view",
                (
                    value["task_id"],
                    value["recipient"],
                    value["status"],
                    self.seq,
                    instant(received_at),
                    json.dumps(value),
                ),
            )
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
            await self._statuses_from(value, received_at)
        elif role == "escalations":
            self.seq += 1
            await self.connection.execute(
                "INSERT INTO escalations (seq, escalation) VALUES (?, ?)",
                (self.seq, json.dumps(value)),
            )

    async def _statuses_from(self, snapshot: dict[str, Any], received_at: datetime) -> None:
        """A recipient's topic carries a task when it is sent and when it is cancelled; the
        statuses agencies report in between reach the model through the completion snapshots,
        which list each task's status. A status only ever moves on (a snapshot read after a
        newer view changes nothing)."""
        lines = {line["task_id"]: line["status"] for line in snapshot.get("tasks", ())}
        if not lines:
            return
        marks = ",".join("?" * len(lines))
        async with self.connection.execute(
            f"SELECT task_id, status, view FROM tasks WHERE task_id IN ({marks})", tuple(lines)
        ) as cursor:
            known = [(row[0], row[1], row[2]) async for row in cursor]
        for task_id, status, view in known:
            if not moves_on(TaskStatus(status), TaskStatus(lines[task_id])):
                continue
            self.seq += 1
            changed = json.loads(view) | {"status": lines[task_id]}
            await self.connection.execute(
                "UPDATE tasks SET status = ?, seq = ?, changed_at = ?, view = ? WHERE task_id = ?",
                (lines[task_id], self.seq, instant(received_at), json.dumps(changed), task_id),
            )

    async def task(self, task_id: str) -> dict[str, Any] | None:
        async with self.connection.execute(
            "SELECT view FROM tasks WHERE task_id = ?", (task_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row is not None else None

    async def tasks_of(
        self,
        recipient: str,
        status: str | None,
        since: datetime | None,
        after: int,
        limit: int,
    ) -> Page:
        """A recipient's tasks in the order they were last created or changed (a cursor
        resumes after the last one seen, so polling with it gives only what changed)."""
        conditions, parameters = ["recipient = ?", "seq > ?"], [recipient, after]
        if status is not None:
            conditions.append("status = ?")
            parameters.append(status)
        if since is not None:
            conditions.append("changed_at >= ?")
            parameters.append(instant(since))
        query = f"SELECT seq, view FROM tasks WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT ?"
        async with self.connection.execute(query, (*parameters, limit + 1)) as cursor:
            rows = [(row[0], json.loads(row[1])) async for row in cursor]
        return _page(rows, after, limit)

    async def incident(self, incident_id: str) -> dict[str, Any] | None:
        async with self.connection.execute(
            "SELECT snapshot FROM incidents WHERE incident_id = ?", (incident_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row is not None else None

    async def escalations(self, after: int, limit: int) -> Page:
        async with self.connection.execute(
            "SELECT seq, escalation FROM escalations WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit + 1),
        ) as cursor:
            rows = [(row[0], json.loads(row[1])) async for row in cursor]
        return _page(rows, after, limit)

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


def _page(rows: list[tuple[int, dict[str, Any]]], after: int, limit: int) -> Page:
    """A page of at most `limit` of `rows` (fetched one more, to know whether more follow)."""
    shown = rows[:limit]
    last = shown[-1][0] if shown else after
    return Page(
        [item for _, item in shown], encode_cursor(last) if last else None, len(rows) > limit
    )


LISTENER_BACKLOG = 1000
"""A dashboard that falls this far behind misses updates until it reloads (never blocks)."""

AUDIT_FACTS = ("incident_id", "legal_basis", "policy_version", "rule_id")
"""What the gateway keeps of the worker's audit record of a task, to audit its own
disclosures of that task with the same legal basis."""


@dataclass(frozen=True)
class TopicRoles:
    """Which output topic holds what, for the read model."""

    tasks: frozenset[str]
    audit: str
    completion: str
    escalations: str

    def role_of(self, topic: str) -> str:
        if topic in self.tasks:
            return "tasks"
        return {self.audit: "audit", self.completion: "completion"}.get(topic, "escalations")

    def all(self) -> list[str]:
        return [*sorted(self.tasks), self.audit, self.completion, self.escalations]

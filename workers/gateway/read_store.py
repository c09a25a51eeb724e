"""The read model's file and what it reads: the SQLite schema and its version (a file of another
version is rebuilt from the topics), owner-only folders, the output records and their topics."""

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
"""PRAGMA user_version of the file; a file of another version is rebuilt from the topics."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    view TEXT NOT NULL,
    sent_status TEXT NOT NULL,
    sent_partition INTEGER NOT NULL,
    sent_offset INTEGER NOT NULL,
    reported_partition INTEGER,
    reported_offset INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_by_recipient ON tasks (recipient, task_id);
CREATE TABLE IF NOT EXISTS reported (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_facts (
    task_id TEXT PRIMARY KEY,
    facts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS escalations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    escalation TEXT NOT NULL,
    UNIQUE (partition, offset)
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
    timestamp_ms: int | None = None
    """The record's Kafka timestamp: when a change happened, the same on every replica."""

    def moment(self, received_at: datetime) -> datetime:
        if self.timestamp_ms is None:
            return received_at
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


def owner_only_folder(folder: Path) -> None:
    """Create `folder` readable by its owner only, or make it so."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def drop_if_outdated(path: Path) -> None:
    """Delete a read model file of another schema version: it is rebuilt from the topics."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with contextlib.closing(sqlite3.connect(path)) as connection:
        row = connection.execute("PRAGMA user_version").fetchone()
    if row is not None and row[0] == SCHEMA_VERSION:
        return
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)


@dataclass(frozen=True)
class TopicRoles:
    """Which output topic holds what, for the read model."""

    tasks: frozenset[str]
    audit: str
    completion: str
    escalations: str
    partitions: int = 1
    task_topics: tuple[tuple[str, str], ...] = ()
    """(recipient, its task topic) pairs."""

    def task_topic(self, recipient: str) -> str:
        return dict(self.task_topics)[recipient]

    def role_of(self, topic: str) -> str:
        if topic in self.tasks:
            return "tasks"
        return {self.audit: "audit", self.completion: "completion"}.get(topic, "escalations")

    def all(self) -> list[str]:
        return [*sorted(self.tasks), self.audit, self.completion, self.escalations]


def instant(moment: datetime) -> str:
    """A moment as the read model stores it: UTC, always with microseconds, so that text order
    is time order whatever offset a caller wrote (`+01:00` or `Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")

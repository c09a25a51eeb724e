"""The topic catalogue: every stream of DESIGN §4 declared once, with key, value and cleanup."""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from schemas.audit import AuditRecord
from schemas.completion import CompletionSnapshot
from schemas.escalation import Escalation
from schemas.gateway_event import GatewayEvent
from schemas.group import GroupProfile
from schemas.playbook import PublishedPlaybook
from schemas.rejection import Rejection
from schemas.task import RecipientTaskView, TaskStatusChange
from workers.core.messages import TaskEvent, UnknownGroupReport


class Direction(StrEnum):
    """Who writes the topic."""

    IN = "in"
    OUT = "out"
    INTERNAL = "internal"


class CleanupPolicy(StrEnum):
    """Kafka's `cleanup.policy`."""

    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its full name, key, value contract, partitions and cleanup policy."""

    name: str
    key: str
    value: type[BaseModel] | None
    partitions: int
    cleanup: CleanupPolicy
    direction: Direction
    description: str
    counted_by: str = "GVI_PARTITIONS"
    """The setting that gives its partition count ("" for a fixed count)."""


OUTPUT_PARTITIONS = 1
"""Partitions of each output topic by default (`GVI_OUTPUT_PARTITIONS`): nothing is
co-partitioned with an output, and every partition a flush writes to costs a record batch, its
acknowledgement and the broker's work (docs/benchmarks.md, "Output topics of one partition")."""


@dataclass(frozen=True)
class Catalogue:
    """The topics of one deployment. Every topic that keys state (inputs, internal topics,
    the tables' changelogs) has the same partition count (co-partitioning); the output topics
    (tasks per recipient, completion, escalations, audit, rejected) have a count of their own,
    the same for all of them; the policies topic has one partition."""

    incidents: TopicSpec
    groups: TopicSpec
    policies: TopicSpec
    """Published playbook versions; one partition, so that every worker reads them in one order."""
    task_updates: dict[str, TopicSpec]
    """Per recipient: its own status topic; the topic, not the message, names the agency (only
    that agency's principal may write it, `gvi-sanctions acls`)."""
    gateway_events: TopicSpec
    completion: TopicSpec
    escalations: TopicSpec
    audit: TopicSpec
    rejected: TopicSpec
    tasks: dict[str, TopicSpec]
    group_work: TopicSpec
    task_commands: TopicSpec
    task_events: TopicSpec
    unknown_groups: TopicSpec
    routed: dict[str, TopicSpec]
    """Per outside input topic: the internal topic that carries its messages that arrived on
    another partition than the owner of their key, to that owner (same key, same value)."""
    routed_updates: TopicSpec
    """The one routed topic of every recipient's status topic (the source topic travels in
    the headers, so the reporter is still known)."""

    def all(self) -> tuple[TopicSpec, ...]:
        fixed = (
            self.incidents,
            self.groups,
            self.policies,
            self.gateway_events,
            self.completion,
            self.escalations,
            self.audit,
            self.rejected,
        )
        internal = (self.group_work, self.task_commands, self.task_events, self.unknown_groups)
        routed = tuple({spec.name: spec for spec in self.routed.values()}.values())
        return (
            *fixed,
            *self.tasks.values(),
            *self.task_updates.values(),
            *internal,
            *routed,
        )

    @property
    def output_partitions(self) -> int:
        """The partition count of every output topic."""
        return self.completion.partitions

    def reporter_of(self, topic: str) -> str | None:
        """The recipient whose status topic `topic` is; None for any other topic."""
        return self._reporters.get(topic)

    @functools.cached_property
    def _reporters(self) -> dict[str, str]:
        return {spec.name: recipient for recipient, spec in self.task_updates.items()}

    def routed_from(self, outside: TopicSpec) -> TopicSpec:
        """The internal topic to which `outside`'s misplaced messages are forwarded."""
        return self.routed[outside.name]


def build_catalogue(
    prefix: str,
    partitions: int,
    recipients: Iterable[str],
    output_partitions: int = OUTPUT_PARTITIONS,
) -> Catalogue:
    """The catalogue for a topic prefix (e.g. `gvi.`) and the policy's recipients: `partitions`
    for the topics that key state, `output_partitions` for the output topics."""

    def spec(
        suffix: str,
        key: str,
        value: type[BaseModel] | None,
        direction: Direction,
        description: str,
        cleanup: CleanupPolicy = CleanupPolicy.DELETE,
    ) -> TopicSpec:
        return TopicSpec(
            name=f"{prefix}{suffix}",
            key=key,
            value=value,
            partitions=output_partitions if direction is Direction.OUT else partitions,
            cleanup=cleanup,
            direction=direction,
            description=description,
            counted_by="GVI_OUTPUT_PARTITIONS" if direction is Direction.OUT else "GVI_PARTITIONS",
        )

    recipients = tuple(recipients)
    outside = {
        "incidents": ("incident id", None),
        "groups": ("group id", GroupProfile),
        "task-updates": ("task id", TaskStatusChange),
    }
    routed = {
        suffix: spec(
            f"internal.routed.{suffix}",
            key,
            value,
            Direction.INTERNAL,
            f"{prefix}{suffix}{'.<recipient>' if suffix == 'task-updates' else ''} messages "
            "forwarded to the partition that owns their key",
        )
        for suffix, (key, value) in outside.items()
    }
    return Catalogue(
        incidents=spec(
            "incidents",
            "incident id",
            None,
            Direction.IN,
            "incident reported / corrected / retracted (schemas.incident)",
        ),
        groups=spec(
            "groups",
            "group id",
            GroupProfile,
            Direction.IN,
            "group profile",
            CleanupPolicy.COMPACT,
        ),
        policies=TopicSpec(
            name=f"{prefix}policies",
            key="policy version",
            value=PublishedPlaybook,
            partitions=1,
            cleanup=CleanupPolicy.COMPACT,
            direction=Direction.IN,
            description="playbook versions with the moment each is in force from "
            "(`gvi-sanctions policy publish`)",
            counted_by="",
        ),
        task_updates={
            recipient: spec(
                f"task-updates.{recipient}",
                "task id",
                TaskStatusChange,
                Direction.IN,
                f"status of {recipient}'s tasks, written only by {recipient}",
            )
            for recipient in recipients
        },
        gateway_events=spec(
            "gateway-events",
            "task id",
            GatewayEvent,
            Direction.IN,
            "the gateway's HTTP disclosures and webhook delivery failures, for the worker to "
            "write to the audit and escalation streams",
        ),
        completion=spec(
            "completion", "incident id", CompletionSnapshot, Direction.OUT, "completion snapshot"
        ),
        escalations=spec(
            "escalations", "task id", Escalation, Direction.OUT, "declined / failed / overdue task"
        ),
        audit=spec("audit", "task id", AuditRecord, Direction.OUT, "disclosure record"),
        rejected=spec("rejected", "source key", Rejection, Direction.OUT, "rejected input"),
        tasks={
            recipient: spec(
                f"tasks.{recipient}",
                "task id",
                RecipientTaskView,
                Direction.OUT,
                f"tasks as {recipient} may see them",
            )
            for recipient in recipients
        },
        group_work=spec(
            "internal.group-work",
            "group id",
            None,
            Direction.INTERNAL,
            "planning per group (workers.core.messages.GroupWork)",
        ),
        task_commands=spec(
            "internal.task-commands",
            "task id",
            None,
            Direction.INTERNAL,
            "dispatched tasks to keep (one message per partition), cancel, overdue, expiry",
        ),
        task_events=spec(
            "internal.task-events", "incident id", TaskEvent, Direction.INTERNAL, "task changes"
        ),
        unknown_groups=spec(
            "internal.unknown-groups",
            "incident id",
            UnknownGroupReport,
            Direction.INTERNAL,
            "an incident whose group stayed unknown, to be answered once",
        ),
        routed={
            f"{prefix}incidents": routed["incidents"],
            f"{prefix}groups": routed["groups"],
            **{
                f"{prefix}task-updates.{recipient}": routed["task-updates"]
                for recipient in recipients
            },
        },
        routed_updates=routed["task-updates"],
    )

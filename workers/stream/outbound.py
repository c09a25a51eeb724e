"""The Kafka messages of the core's outputs: topic, key and bytes for each, batched where the
receiver allows it."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from events.catalogue import Catalogue
from events.codec import encode
from events.partitioning import partition_of
from schemas.common import amended, built
from schemas.rejection import Rejection
from workers.core.messages import CreateTasks, NewTask, SourceRef
from workers.core.outputs import (
    Answer,
    Audited,
    Disclosure,
    Escalate,
    HandToGroup,
    Instruct,
    KeepTasks,
    Output,
    Progress,
    ReportUnknownGroup,
    Snapshot,
)

KEPT_PER_MESSAGE = 100
"""Dispatched tasks per message to the task agent (about 2 kB each): well below 1 MB."""
MAX_KEY_CHARS = 256
"""A rejection keeps at most this much of the source key, in its record and as its own key:
the answer to a message with a huge key must still fit."""


@dataclass(frozen=True)
class Outbound:
    """One message to send; `partition` None: the worker's key partitioner chooses it."""

    topic: str
    key: str | bytes
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    partition: int | None = None

    @property
    def raw_key(self) -> bytes:
        return self.key.encode("utf-8") if isinstance(self.key, str) else self.key


def rejection_of(answer: Answer, worker: str, now: datetime) -> Rejection:
    source = answer.source
    return Rejection(
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        source_key=source.key[:MAX_KEY_CHARS] if source.key else None,
        error_code=answer.code,
        message=answer.message[:2000] or answer.code.value,
        rejected_at=now,
        worker=worker[:200],
    )


def messages_of(
    outputs: Iterable[Output],
    catalogue: Catalogue,
    partitions: int,
    worker: str,
    now: datetime,
    receiver_of: Callable[[str], str] | None = None,
) -> list[Outbound]:
    """The messages of `outputs`, in order; tasks to keep go in one message per partition of
    the task agent (every task id of a message has that partition). `receiver_of` names the
    principal that reads a recipient's topic, for the audit record of a disclosure."""
    messages: list[Outbound] = []
    for output in outputs:
        match output:
            case Disclosure(view=view, audit=audit):
                task_id = str(view.task_id)
                messages.append(
                    Outbound(catalogue.tasks[view.recipient].name, task_id, encode(view))
                )
                if receiver_of is not None and audit.receiver is None:
                    audit = amended(audit, receiver=receiver_of(view.recipient))
                messages.append(Outbound(catalogue.audit.name, task_id, encode(audit)))
            case Audited(audit=audit):
                messages.append(Outbound(catalogue.audit.name, str(audit.task_id), encode(audit)))
            case Escalate(escalation=escalation):
                key = str(escalation.task_id)
                messages.append(Outbound(catalogue.escalations.name, key, encode(escalation)))
            case Progress(event=event):
                messages.append(
                    Outbound(catalogue.task_events.name, event.incident_id, encode(event))
                )
            case Snapshot(snapshot=snapshot):
                key = snapshot.incident_id
                messages.append(Outbound(catalogue.completion.name, key, encode(snapshot)))
            case Answer() as answer:
                rejection = rejection_of(answer, worker, now)
                key = rejection.source_key or ""
                messages.append(Outbound(catalogue.rejected.name, key, encode(rejection)))
            case KeepTasks(tasks=tasks, source=source):
                messages.extend(_kept(tasks, source, catalogue, partitions))
            case Instruct(command=command):
                key = str(command.task_id)
                messages.append(Outbound(catalogue.task_commands.name, key, encode(command)))
            case HandToGroup(work=work):
                messages.append(Outbound(catalogue.group_work.name, work.group_id, encode(work)))
            case ReportUnknownGroup(report=report):
                key = report.incident_id
                messages.append(Outbound(catalogue.unknown_groups.name, key, encode(report)))
    return messages


def _kept(
    tasks: tuple[NewTask, ...], source: SourceRef, catalogue: Catalogue, partitions: int
) -> list[Outbound]:
    by_partition: defaultdict[int, list[NewTask]] = defaultdict(list)
    for new in tasks:
        by_partition[partition_of(str(new.task.task_id), partitions)].append(new)
    messages = []
    for _, kept in sorted(by_partition.items()):
        for start in range(0, len(kept), KEPT_PER_MESSAGE):
            chunk = tuple(kept[start : start + KEPT_PER_MESSAGE])
            command = built(CreateTasks, tasks=chunk, source=source)
            key = str(chunk[0].task.task_id)
            messages.append(Outbound(catalogue.task_commands.name, key, encode(command)))
    return messages

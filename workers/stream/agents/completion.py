"""Completion: every task change of an incident becomes a new snapshot on `gvi.completion`."""

from dataclasses import dataclass
from typing import Any

import structlog
from faust.types import EventT

from events.catalogue import Catalogue
from events.codec import decode_internal
from workers.core.completion import IncidentSlot, progress_after
from workers.core.messages import TaskEvent
from workers.core.outputs import Snapshot
from workers.core.records import GroupTaskLines, IncidentTasks, progress_key
from workers.stream.runner import StageHandler
from workers.stream.runtime import Runtime, utc_now
from workers.stream.stores import Store, Writes

NAME = "completion"
log = structlog.get_logger("gvi.completion")


@dataclass(frozen=True)
class CompletionContext:
    runtime: Runtime
    headers: Store[IncidentTasks]
    lines: Store[GroupTaskLines]

    def load(self, incident_id: str, groups: set[str]) -> IncidentSlot:
        """The incident's slot with the lines of its known groups and of `groups`."""
        header = self.headers.get(incident_id)
        if header is None:
            known: tuple[str, ...] = ()
            slot = IncidentSlot()
        else:
            known = header.groups
            slot = IncidentSlot(
                header.incident_version, header.policy_version, header.partnership, known
            )
        lines = {}
        for group_id in (*known, *sorted(groups - set(known))):
            stored = self.lines.get(progress_key(incident_id, group_id))
            if stored is not None:
                lines[group_id] = stored.tasks
        return IncidentSlot(slot.version, slot.policy_version, slot.partnership, known, lines)


def context(runtime: Runtime) -> CompletionContext:
    table = runtime.tables["incident-progress"]
    return CompletionContext(runtime, Store(table, IncidentTasks), Store(table, GroupTaskLines))


async def on_task_event(ctx: CompletionContext, event: EventT[Any]) -> None:
    change = decode_internal(TaskEvent, event.value)
    incident_id = change.incident_id
    before = ctx.load(incident_id, {task.group_id for task in change.tasks})
    decided = progress_after(before, change, utc_now())
    after = decided.slot
    if after is before:
        return
    writes = Writes()
    for group_id, lines in after.lines.items():
        if lines is not before.lines.get(group_id):
            key = progress_key(incident_id, group_id)
            writes.put(ctx.lines, key, GroupTaskLines(tasks=dict(lines)))
    assert after.version is not None
    header = IncidentTasks(
        incident_id=incident_id,
        incident_version=after.version,
        policy_version=after.policy_version,
        groups=after.groups,
        partnership=after.partnership,
    )
    writes.put(ctx.headers, incident_id, header)
    await ctx.runtime.commit(decided.outputs, writes)
    for output in decided.outputs:
        if isinstance(output, Snapshot):
            snapshot = output.snapshot
            log.info(
                "completion",
                incident_id=incident_id,
                progress=snapshot.progress.value,
                percent=snapshot.percent_complete,
            )


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    return {catalogue.task_events.name: on_task_event}

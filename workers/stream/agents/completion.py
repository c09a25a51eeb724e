"""Completion: every task change of an incident becomes a new snapshot on `gvi.completion`."""

from dataclasses import dataclass
from typing import Any

import structlog
from faust.types import EventT

from events.catalogue import Catalogue
from events.codec import decode_internal
from workers.core.completion import progress_after
from workers.core.messages import TaskEvent
from workers.core.outputs import Snapshot
from workers.stream.runner import StageHandler, commit
from workers.stream.runtime import Runtime, utc_now
from workers.stream.slots import IncidentSlots

NAME = "completion"
log = structlog.get_logger("gvi.completion")


@dataclass(frozen=True)
class CompletionContext:
    runtime: Runtime
    slots: IncidentSlots


def context(runtime: Runtime) -> CompletionContext:
    return CompletionContext(runtime, IncidentSlots.of(runtime))


async def on_task_event(ctx: CompletionContext, event: EventT[Any]) -> None:
    """Tasks planned, one task's new state, or a decision without tasks: a new snapshot when
    the incident's progress changed."""
    change = decode_internal(TaskEvent, event.value)
    incident_id = change.incident_id
    before = ctx.slots.load(incident_id, {task.group_id for task in change.tasks})
    decided = progress_after(before, change, utc_now())
    writes = ctx.slots.writes(incident_id, before, decided.slot)
    shown = [output.snapshot for output in decided.outputs if isinstance(output, Snapshot)]
    progress = (
        {"progress": shown[-1].progress.value, "percent": shown[-1].percent_complete}
        if shown
        else {}
    )
    await commit(ctx.runtime, decided, writes, log, incident_id=incident_id, **progress)


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    return {catalogue.task_events.name: on_task_event}

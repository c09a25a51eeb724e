"""Completion: every task change of an incident becomes a new snapshot on `gvi.completion`."""

from collections import defaultdict
from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode_internal, encode
from events.envelopes import TaskEvent
from schemas.task import SanctionTask
from workers.core.completion import TaskLine, completion_snapshot, merge_tasks
from workers.runtime import Runtime, subscribe, utc_now
from workers.state import GroupTaskLines, IncidentTasks, progress_key

log = structlog.get_logger("gvi.completion")


def register(app: Any, runtime: Runtime) -> None:
    """Register the completion agent on the internal task events (keyed by incident id)."""
    catalogue = runtime.catalogue
    progress = runtime.tables["incident-progress"]

    parsed: dict[str, tuple[Any, dict[str, TaskLine]]] = {}

    def lines_of(incident_id: str, group_id: str) -> dict[str, TaskLine]:
        """A group's task lines, parsed once per stored value: a large incident's lines are
        read on every one of its task events (the memory store hands back the same object)."""
        key = progress_key(incident_id, group_id)
        stored = progress.get(key)
        if not stored:
            return {}
        cached = parsed.get(key)
        if cached is not None and cached[0] is stored:
            return dict(cached[1])
        lines = dict(GroupTaskLines.model_validate(stored).tasks)
        if len(parsed) > 1000:
            parsed.clear()
        parsed[key] = (stored, lines)
        return dict(lines)

    async def record_progress(event: EventT[Any]) -> None:
        change = decode_internal(TaskEvent, event.value)
        stored = progress.get(change.incident_id)
        state = (
            IncidentTasks.model_validate(stored)
            if stored
            else IncidentTasks(
                incident_id=change.incident_id,
                incident_version=change.incident_version,
                policy_version=change.policy_version,
            )
        )
        by_group: defaultdict[str, list[SanctionTask]] = defaultdict(list)
        for task in change.tasks:
            by_group[task.group_id].append(task)
        changed: dict[str, dict[str, TaskLine]] = {}
        for group_id, tasks in by_group.items():
            merged = merge_tasks(
                lines_of(change.incident_id, group_id), tasks, planned=change.event == "planned"
            )
            if merged is not None:
                changed[group_id] = merged
        if stored and not changed and change.incident_version <= state.incident_version:
            return
        state = IncidentTasks(
            incident_id=state.incident_id,
            incident_version=max(state.incident_version, change.incident_version),
            policy_version=change.policy_version,
            groups=(*state.groups, *(g for g in changed if g not in state.groups)),
        )
        every_line = [
            line
            for group_id in state.groups
            for line in (changed.get(group_id) or lines_of(state.incident_id, group_id)).values()
        ]
        snapshot = completion_snapshot(
            state.incident_id,
            state.incident_version,
            state.policy_version,
            every_line,
            utc_now(),
        )
        await runtime.send(catalogue.completion.name, state.incident_id, encode(snapshot))
        for group_id, lines in changed.items():
            key = progress_key(state.incident_id, group_id)
            stored_lines = GroupTaskLines(tasks=lines).model_dump(mode="json")
            progress[key] = stored_lines
            parsed[key] = (stored_lines, lines)
        progress[state.incident_id] = state.model_dump(mode="json")
        log.info(
            "completion",
            incident_id=state.incident_id,
            progress=snapshot.progress.value,
            percent=snapshot.percent_complete,
        )

    subscribe(app, runtime, "completion", {catalogue.task_events.name: record_progress})

"""Completion: every task change of an incident becomes a new snapshot on `gvi.completion`."""

from typing import Any

import structlog
from faust.types import EventT, StreamT

from events.codec import decode, encode
from events.envelopes import TaskEvent
from workers.core.completion import completion_snapshot, merge_tasks
from workers.runtime import Runtime, guarded, utc_now
from workers.state import IncidentTasks

log = structlog.get_logger("gvi.completion")


def register(app: Any, runtime: Runtime) -> None:
    """Register the completion agent on the internal task events (keyed by incident id)."""
    catalogue = runtime.catalogue
    progress = runtime.tables["incident-progress"]

    async def record_progress(event: EventT[Any]) -> None:
        change = decode(TaskEvent, event.value)
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
        merged = merge_tasks(state.tasks, change.tasks, planned=change.event == "planned")
        if stored and merged is None and change.incident_version <= state.incident_version:
            return
        tasks = state.tasks if merged is None else merged
        state = IncidentTasks(
            incident_id=state.incident_id,
            incident_version=max(state.incident_version, change.incident_version),
            policy_version=change.policy_version,
            tasks=tasks,
        )
        snapshot = completion_snapshot(
            state.incident_id,
            state.incident_version,
            state.policy_version,
            state.tasks.values(),
            utc_now(),
        )
        await runtime.send(catalogue.completion.name, state.incident_id, encode(snapshot))
        progress[state.incident_id] = state.model_dump(mode="json")
        log.info(
            "completion",
            incident_id=state.incident_id,
            progress=snapshot.progress.value,
            percent=snapshot.percent_complete,
        )

    @app.agent(runtime.topics[catalogue.task_events.name], name="completion")  # type: ignore[untyped-decorator]
    async def completion(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await guarded(runtime, event, record_progress)

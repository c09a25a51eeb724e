"""Completion: every task change of an incident becomes a new snapshot on `gvi.completion`."""

from collections.abc import Mapping
from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode_internal
from workers.core.completion import TaskLine, progress_after
from workers.core.messages import TaskEvent
from workers.core.outputs import Snapshot
from workers.core.records import GroupTaskLines, IncidentTasks, progress_key
from workers.stream.runtime import Runtime, subscribe, utc_now
from workers.stream.stores import Store, Writes

log = structlog.get_logger("gvi.completion")


def register(app: Any, runtime: Runtime) -> None:
    """Register the completion agent on the internal task events (keyed by incident id)."""
    headers = Store(runtime.tables["incident-progress"], IncidentTasks)
    lines = Store(runtime.tables["incident-progress"], GroupTaskLines)

    async def record_progress(event: EventT[Any]) -> None:
        change = decode_internal(TaskEvent, event.value)
        incident_id = change.incident_id
        known = headers.get(incident_id)

        def lines_of(group_id: str) -> Mapping[str, TaskLine]:
            stored = lines.get(progress_key(incident_id, group_id))
            return stored.tasks if stored is not None else {}

        progress = progress_after(
            known.incident_version if known is not None else None,
            known.groups if known is not None else (),
            lines_of,
            incident_id,
            change.event,
            change.incident_version,
            change.policy_version,
            change.tasks,
            utc_now(),
            change.partnership or (known.partnership if known is not None else None),
        )
        if progress.snapshot is None:
            return
        writes = Writes()
        for group_id, group_lines in progress.lines.items():
            key = progress_key(incident_id, group_id)
            writes.put(lines, key, GroupTaskLines(tasks=group_lines))
        header = IncidentTasks(
            incident_id=incident_id,
            incident_version=progress.incident_version,
            policy_version=progress.policy_version,
            groups=progress.groups,
            partnership=progress.partnership,
        )
        writes.put(headers, incident_id, header)
        await runtime.emit([Snapshot(progress.snapshot)])
        runtime.apply(writes)
        log.info(
            "completion",
            incident_id=incident_id,
            progress=progress.snapshot.progress.value,
            percent=progress.snapshot.percent_complete,
        )

    subscribe(app, runtime, "completion", {runtime.catalogue.task_events.name: record_progress})

"""Deadlines: a timer finds overdue tasks and long-parked updates and incidents, and asks the
agent that owns each to act."""

from datetime import datetime, timedelta
from typing import Any

import structlog

from events.codec import encode
from events.envelopes import GroupWork, SourceRef, TaskCommand, TaskCommandKind
from events.partitioning import partition_of
from schemas.task import OPEN_STATUSES
from workers.runtime import Runtime, utc_now
from workers.state import ParkedIncident, ParkedUpdates, TaskRecord

log = structlog.get_logger("gvi.deadlines")
OPEN = {status.value for status in OPEN_STATUSES}
TIMER_SOURCE = SourceRef(topic="deadline-timer", partition=-1, offset=-1)


def register(app: Any, runtime: Runtime) -> None:
    """Register the deadline timer; it reads the task tables and writes commands, never a table."""
    tasks = runtime.tables["tasks"]
    parked = runtime.tables["parked-updates"]
    parked_incidents = runtime.tables["parked-incidents"]
    parked_wait = timedelta(seconds=runtime.settings.parked_update_seconds)
    incident_wait = timedelta(seconds=runtime.settings.parked_incident_seconds)
    commands = runtime.catalogue.task_commands.name
    group_work = runtime.catalogue.group_work.name
    partitions = runtime.settings.partitions

    async def expire_parked_updates(owned: set[int], now: datetime) -> None:
        expired = 0
        for task_id, stored in list(parked.items()):
            if not stored or partition_of(task_id, partitions) not in owned:
                continue
            if not ParkedUpdates.model_validate(stored).expired_at(now, parked_wait):
                continue
            command = TaskCommand(
                command=TaskCommandKind.EXPIRE_PARKED, task_id=task_id, at=now, source=TIMER_SOURCE
            )
            await runtime.send(commands, task_id, encode(command))
            expired += 1
        if expired:
            log.info("parked status updates past their wait", tasks=expired)

    async def expire_parked_incidents(now: datetime) -> None:
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == group_work}
        for stored in list(parked_incidents.values()):
            if not stored:
                continue
            waiting = ParkedIncident.model_validate(stored)
            group_id = waiting.work.group_id
            if partition_of(group_id, partitions) not in owned:
                continue
            if not waiting.expired_at(now, incident_wait):
                continue
            expiry = GroupWork(
                group_id=group_id,
                attributed=False,
                expire_parked=waiting.work.incident_id,
                source=TIMER_SOURCE,
            )
            await runtime.send(group_work, group_id, encode(expiry))

    @app.timer(interval=runtime.settings.overdue_check_seconds)  # type: ignore[untyped-decorator]
    async def check_deadlines() -> None:
        now = utc_now()
        await expire_parked_incidents(now)
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == commands}
        if not owned:
            return
        await expire_parked_updates(owned, now)
        flagged = 0
        for task_id, stored in list(tasks.items()):
            if not stored or stored["task"]["status"] not in OPEN or stored["task"]["overdue"]:
                continue
            if partition_of(task_id, partitions) not in owned:
                continue
            task = TaskRecord.model_validate(stored).task
            if not task.is_overdue_at(now):
                continue
            command = TaskCommand(
                command=TaskCommandKind.MARK_OVERDUE,
                task=task,
                incident_version=task.incident_version,
                at=now,
                source=TIMER_SOURCE,
            )
            await runtime.send(commands, task_id, encode(command))
            flagged += 1
        if flagged:
            log.info("overdue tasks found", count=flagged)

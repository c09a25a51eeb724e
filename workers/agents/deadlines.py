"""Deadlines: a timer finds overdue tasks and long-parked updates and asks the task agent to act."""

from datetime import datetime, timedelta
from typing import Any

import structlog

from events.codec import encode
from events.envelopes import SourceRef, TaskCommand, TaskCommandKind
from events.partitioning import partition_of
from schemas.task import OPEN_STATUSES
from workers.runtime import Runtime, utc_now
from workers.state import ParkedUpdates, TaskRecord

log = structlog.get_logger("gvi.deadlines")
OPEN = {status.value for status in OPEN_STATUSES}
TIMER_SOURCE = SourceRef(topic="deadline-timer", partition=-1, offset=-1)


def register(app: Any, runtime: Runtime) -> None:
    """Register the deadline timer; it reads the task tables and writes commands, never a table."""
    tasks = runtime.tables["tasks"]
    parked = runtime.tables["parked-updates"]
    parked_wait = timedelta(seconds=runtime.settings.parked_update_seconds)
    commands = runtime.catalogue.task_commands.name
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

    @app.timer(interval=runtime.settings.overdue_check_seconds)  # type: ignore[untyped-decorator]
    async def check_deadlines() -> None:
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == commands}
        if not owned:
            return
        now = utc_now()
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

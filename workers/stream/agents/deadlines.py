"""Deadlines: a timer finds overdue tasks, tasks not yet sent, and long-parked updates and
incidents, and asks the agent that owns each to act."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from events.partitioning import partition_of
from schemas.task import OPEN_STATUSES, SanctionTask
from workers.core.messages import (
    ExpireParkedUpdates,
    GiveUpWaiting,
    MarkDelivered,
    MarkOverdue,
    RemindTask,
)
from workers.core.outputs import Disclosure, HandToGroup, Instruct, Output
from workers.core.records import ParkedIncident, ParkedUpdates, TaskRecord
from workers.core.tasks import redelivery, reminder_due_at
from workers.stream.runtime import Runtime, delivery_failure, utc_now
from workers.stream.stores import Store

log = structlog.get_logger("gvi.deadlines")


def register(app: Any, runtime: Runtime) -> None:
    """Register the deadline timer; it reads the task tables and writes commands, never a table."""
    tasks = Store(runtime.tables["tasks"], TaskRecord)
    parked = Store(runtime.tables["parked-updates"], ParkedUpdates)
    parked_incidents = Store(runtime.tables["parked-incidents"], ParkedIncident)
    parked_wait = timedelta(seconds=runtime.settings.parked_update_seconds)
    incident_wait = timedelta(seconds=runtime.settings.parked_incident_seconds)
    commands = runtime.catalogue.task_commands.name
    group_work = runtime.catalogue.group_work.name
    partitions = runtime.settings.partitions

    def owned(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    def parked_updates_expired(mine: set[int], now: datetime) -> list[Output]:
        return [
            Instruct(ExpireParkedUpdates(task_id=UUID(task_id), at=now))
            for task_id, waiting in parked.items()
            if partition_of(task_id, partitions) in mine and waiting.expired_at(now, parked_wait)
        ]

    def parked_incidents_expired(mine: set[int], now: datetime) -> list[Output]:
        return [
            HandToGroup(GiveUpWaiting(group_id=w.work.group_id, incident_id=w.work.incident_id))
            for _, w in parked_incidents.items()
            if partition_of(w.work.group_id, partitions) in mine
            and w.expired_at(now, incident_wait)
        ]

    def overdue(mine: set[int], now: datetime) -> list[Output]:
        return [
            Instruct(MarkOverdue(task_id=record.task.task_id, at=now))
            for task_id, record in tasks.items(past_deadline(now))
            if partition_of(task_id, partitions) in mine
            and record.task.status in OPEN_STATUSES
            and record.task.is_overdue_at(now)
        ]

    def reminder_at(task: SanctionTask) -> datetime | None:
        return reminder_due_at(task, runtime.policies.for_task(task))

    def reminders(mine: set[int], now: datetime) -> list[Output]:
        earliest = runtime.policies.earliest_reminder_share()
        if earliest is None:
            return []
        return [
            Instruct(RemindTask(task_id=record.task.task_id, at=now))
            for task_id, record in tasks.items(past_reminder(now, earliest))
            if partition_of(task_id, partitions) in mine
            and record.reminded_at is None
            and record.task.status in OPEN_STATUSES
            and not record.task.overdue
            and (due := reminder_at(record.task)) is not None
            and due <= now < record.task.deadline
        ]

    def undelivered(mine: set[int], now: datetime) -> dict[str, list[Disclosure]]:
        """Per recipient, the tasks kept as created because its topic did not take them."""
        waiting: dict[str, list[Disclosure]] = {}
        for task_id, record in tasks.items(not_yet_sent):
            disclosure = redelivery(record, runtime.policies.for_task(record.task), now)
            if disclosure is not None and partition_of(task_id, partitions) in mine:
                waiting.setdefault(record.task.recipient, []).append(disclosure)
        return waiting

    async def send_undelivered(mine: set[int]) -> None:
        """Send each waiting task to its recipient, a recipient at a time (one whose topic is
        still silent delays only this timer), then tell the task agent it was delivered."""
        for recipient, disclosures in undelivered(mine, utc_now()).items():
            disclosures = disclosures[:MAX_SENT_LATE_PER_CHECK]
            try:
                await runtime.emit(disclosures)
            except Exception as error:
                if not delivery_failure(error):
                    raise
                log.warning("tasks still wait for their recipient's topic", recipient=recipient)
                continue
            await runtime.emit(
                [
                    Instruct(MarkDelivered(task_id=d.audit.task_id, at=d.audit.disclosed_at))
                    for d in disclosures
                ]
            )
            log.info(
                "tasks sent late to their recipient", recipient=recipient, count=len(disclosures)
            )

    @app.timer(interval=runtime.settings.overdue_check_seconds)  # type: ignore[untyped-decorator]
    async def check_deadlines() -> None:
        await runtime.policy_known(None)  # each task's reminder share is its playbook's
        now = utc_now()
        given_up = parked_incidents_expired(owned(group_work), now)
        mine = owned(commands)
        expired = parked_updates_expired(mine, now)
        flagged = overdue(mine, now)
        reminded = reminders(mine, now)
        await runtime.emit([*given_up, *expired, *flagged, *reminded])
        if expired:
            log.info("parked status updates past their wait", tasks=len(expired))
        if flagged:
            log.info("overdue tasks found", count=len(flagged))
        if reminded:
            log.info("tasks at their reminder point", count=len(reminded))
        await send_undelivered(mine)


MAX_SENT_LATE_PER_CHECK = 500
DEADLINE = re.compile(rb'"deadline":"([^"]+)"')


def past_deadline(now: datetime) -> Callable[[bytes], bool]:
    """A cheap test of a stored task record, before it is parsed: not yet flagged overdue and
    past its deadline (the task's own fields come first in its JSON). The timer looks at every
    task of the worker's partitions."""

    def candidate(stored: bytes) -> bool:
        if b'"overdue":false' not in stored:
            return False
        found = DEADLINE.search(stored)
        return found is None or datetime.fromisoformat(found.group(1).decode()) < now

    return candidate


CREATED_AT = re.compile(rb'"created_at":"([^"]+)"')


def past_reminder(now: datetime, share: float) -> Callable[[bytes], bool]:
    """A cheap test of a stored task record, before it is parsed: not reminded, not overdue,
    and past its reminder point but not its deadline."""

    def candidate(stored: bytes) -> bool:
        if b'"reminded_at":null' not in stored or b'"overdue":false' not in stored:
            return False
        created, deadline = CREATED_AT.search(stored), DEADLINE.search(stored)
        if created is None or deadline is None:
            return True
        start = datetime.fromisoformat(created.group(1).decode())
        end = datetime.fromisoformat(deadline.group(1).decode())
        return start + (end - start) * share <= now < end

    return candidate


def not_yet_sent(stored: bytes) -> bool:
    """A cheap test of a stored task record, before it is parsed: kept as created."""
    return b'"status":"created"' in stored

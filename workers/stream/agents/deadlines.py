"""Deadlines: a timer finds overdue tasks, tasks not yet sent, and long-parked updates and
incidents (`workers/core/deadlines.py` decides which), and asks the agent that owns each to act."""

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import structlog

from events.partitioning import partition_of
from workers.core import deadlines
from workers.core.records import ParkedIncident, ParkedUpdates, TaskRecord
from workers.stream.metrics import owned_partitions, readiness
from workers.stream.runtime import Runtime, delivery_failure, utc_now
from workers.stream.stores import Store, not_yet_sent, past_deadline, past_reminder

log = structlog.get_logger("gvi.deadlines")
MAX_SENT_LATE_PER_CHECK = 500
READY_LOOK_SECONDS = 0.05
"""How often the pass after a rebalance looks whether the worker is ready (tables recovered)."""
Kept = tuple[str, TaskRecord]


def _nothing(stored: bytes) -> bool:
    return False


def register(app: Any, runtime: Runtime) -> None:
    """Register the deadline timer; it reads the task tables and writes commands, never a table."""
    tasks = Store(runtime.tables["tasks"], TaskRecord)
    parked = Store(runtime.tables["parked-updates"], ParkedUpdates)
    parked_incidents = Store(runtime.tables["parked-incidents"], ParkedIncident)
    parked_wait = timedelta(seconds=runtime.settings.parked_update_seconds)
    incident_wait = timedelta(seconds=runtime.settings.parked_incident_seconds)
    partitions, policy_of = runtime.settings.partitions, runtime.policies.for_task

    def owned_on(topic: str) -> deadlines.Owned:
        mine = owned_partitions(app, topic)
        return lambda key: partition_of(key, partitions) in mine

    async def send_undelivered(
        owned: deadlines.Owned, unsent: list[tuple[str, TaskRecord]]
    ) -> None:
        """Send each waiting task to its recipient, a recipient at a time (one whose topic is
        still silent delays only this timer), then tell the task agent it was delivered."""
        waiting = deadlines.undelivered(unsent, owned, policy_of, utc_now())
        for recipient, disclosures in waiting.items():
            disclosures = disclosures[:MAX_SENT_LATE_PER_CHECK]
            try:
                await runtime.emit(disclosures)
            except Exception as error:
                if not delivery_failure(error):
                    raise
                log.warning("tasks still wait for their recipient's topic", recipient=recipient)
                continue
            await runtime.emit(deadlines.delivered(disclosures))
            log.info(
                "tasks sent late to their recipient", recipient=recipient, count=len(disclosures)
            )

    async def sort_out_tasks(
        now: datetime, owned: deadlines.Owned
    ) -> tuple[list[Kept], list[Kept], list[Kept]]:
        """The tasks past their deadline, at their reminder point, and not yet sent; none
        without reading the table while nothing can be due (`DueWatch`)."""
        earliest, watch = runtime.policies.earliest_reminder_share(), runtime.due_watch
        if watch.nothing_due(now.timestamp(), earliest, app.consumer_generation_id):
            runtime.metrics.deadline_ticks.labels("skipped").inc()
            return [], [], []
        runtime.metrics.deadline_ticks.labels("pass").inc()
        reminding = past_reminder(now, earliest) if earliest is not None else _nothing
        watch.generation_is(app.consumer_generation_id)
        passing = watch.begin(earliest, readiness(app)["ready"], owned)
        try:
            late, due, unsent = await tasks.sorted_out(
                [past_deadline(now), reminding, not_yet_sent], passing.saw
            )
            for key, record in (*late, *due):
                moment = deadlines.next_attention(record, policy_of(record.task))
                if moment is not None and owned(key):
                    passing.due_at(moment.timestamp())
        except BaseException:
            watch.abandon(passing)
            raise
        watch.end(passing)
        return late, due, unsent

    checking = asyncio.Lock()

    async def pass_once_ready(generation: int) -> None:
        """The pass the next tick would make, made as soon as the worker is ready: over the
        recovered table, before the worker's own writes (which the watch keeps) add to it."""
        give_up = time.monotonic() + runtime.settings.overdue_check_seconds
        try:
            while not readiness(app)["ready"]:
                if app.consumer_generation_id != generation or time.monotonic() > give_up:
                    return
                await asyncio.sleep(READY_LOOK_SECONDS)
            await check_deadlines()
        except Exception as error:  # the next tick passes again (the watch learnt nothing)
            log.warning(
                "the deadline pass after a rebalance failed",
                error=f"{type(error).__name__}: {error}",
            )

    @app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def tables_recovered(sender: Any, **signal: Any) -> None:
        runtime.due_watch.invalidate()
        app.add_future(pass_once_ready(app.consumer_generation_id))  # the app's stop cancels it

    @app.timer(interval=runtime.settings.overdue_check_seconds)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        await check_deadlines()

    async def check_deadlines() -> None:
        async with checking:
            await check_once()

    async def check_once() -> None:
        await runtime.policy_known(None)  # each task's reminder share is its playbook's
        now, owned = utc_now(), owned_on(runtime.catalogue.task_commands.name)
        waiting_incidents = (w for _, w in parked_incidents.items())
        group_owned = owned_on(runtime.catalogue.group_work.name)
        given_up = deadlines.given_up_incidents(waiting_incidents, group_owned, incident_wait, now)
        expired = deadlines.expired_parked_updates(parked.items(), owned, parked_wait, now)
        late, due, unsent = await sort_out_tasks(now, owned)
        flagged = deadlines.overdue(late, owned, now)
        reminded = deadlines.reminders(due, owned, policy_of, now)
        await runtime.emit([*given_up, *expired, *flagged, *reminded])
        for found, what in (
            (expired, "parked status updates past their wait"),
            (flagged, "overdue tasks found"),
            (reminded, "tasks at their reminder point"),
        ):
            if found:
                log.info(what, count=len(found))
        await send_undelivered(owned, unsent)

"""Task state: keeps dispatched tasks, applies agencies' updates and the system's commands."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from faust.types import EventT

from events.catalogue import Catalogue
from events.codec import decode, decode_with, require_key
from schemas.task import TaskStatusChange
from workers.core import tasks as stage
from workers.core.decision import Outcome
from workers.core.messages import (
    TASK_COMMAND,
    CancelTask,
    CreateTasks,
    ExpireParkedUpdates,
    MarkDelivered,
    MarkOverdue,
    RemindTask,
)
from workers.core.outputs import Progress
from workers.core.policy import Policy
from workers.core.records import ParkedUpdates, TaskRecord
from workers.core.tasks import Decided, TaskSlot
from workers.stream.boundary import answering_at
from workers.stream.runner import StageHandler
from workers.stream.runtime import Runtime, utc_now
from workers.stream.stores import Store, Writes

NAME = "task-state"
log = structlog.get_logger("gvi.tasks")


@dataclass(frozen=True)
class TaskContext:
    runtime: Runtime
    tasks: Store[TaskRecord]
    parked: Store[ParkedUpdates]
    parked_wait: timedelta

    def load(self, task_id: str) -> TaskSlot:
        return TaskSlot(self.tasks.get(task_id), self.parked.get(task_id) or ParkedUpdates())

    def policy_of(self, slot: TaskSlot) -> Policy:
        """The effective playbook that planned the slot's task (the fallback before it is known)."""
        book = self.runtime.policies
        return book.for_task(slot.record.task) if slot.record else book.fallback

    async def settle(self, task_id: str, before: TaskSlot, decided: Decided) -> None:
        after, writes = decided.slot, Writes()
        writes.change(self.tasks, task_id, before.record, after.record)
        waiting = after.parked if after.parked.updates else None
        writes.change(
            self.parked, task_id, before.parked if before.parked.updates else None, waiting
        )
        await self.runtime.commit(decided.outputs, writes)
        for output in decided.outputs:
            if isinstance(output, Progress):
                for task in output.event.tasks:
                    log.info("task changed", task_id=task_id, status=task.status.value)
        if decided.outcome.routine:
            log.debug(decided.outcome, task_id=task_id)
        elif decided.outcome is not Outcome.NOTHING_CHANGED:
            log.info(decided.outcome, task_id=task_id, outputs=len(decided.outputs))

    async def decide(self, task_id: str, decide: Callable[[TaskSlot, Policy], Decided]) -> None:
        """Load the task's slot, decide on it (`decide(slot, policy)`), settle the decision."""
        slot = self.load(task_id)
        await self.settle(task_id, slot, decide(slot, self.policy_of(slot)))


def context(runtime: Runtime) -> TaskContext:
    return TaskContext(
        runtime,
        Store(runtime.tables["tasks"], TaskRecord),
        Store(runtime.tables["parked-updates"], ParkedUpdates),
        timedelta(seconds=runtime.settings.parked_update_seconds),
    )


async def on_command(ctx: TaskContext, event: EventT[Any]) -> None:
    """The system's commands: keep new tasks, cancel, flag overdue, remind, deliver, expire."""
    command = decode_with(TASK_COMMAND, event.value, outside=False)
    if isinstance(command, CreateTasks):
        for version in sorted({new.task.policy_version for new in command.tasks}):
            await ctx.runtime.policy_known(version)
    else:
        await ctx.runtime.policy_known(None)
    match command:
        case CreateTasks(tasks=created, source=source):
            with answering_at(source):
                for new in created:
                    task_id, policy = str(new.task.task_id), ctx.runtime.policies.for_task(new.task)
                    slot = ctx.load(task_id)
                    await ctx.settle(
                        task_id, slot, stage.keep_created(slot, new, policy, utc_now())
                    )
        case CancelTask() as cancel:
            with answering_at(cancel.source):
                await ctx.decide(str(cancel.task_id), lambda s, p: stage.cancel_task(s, cancel, p))
        case MarkOverdue(task_id=task_id, at=at):
            await ctx.decide(str(task_id), lambda s, p: stage.flag_overdue(s, p, at))
        case RemindTask() as remind:
            await ctx.decide(str(remind.task_id), lambda s, p: stage.remind(s, remind, p))
        case MarkDelivered() as delivered:
            await ctx.decide(
                str(delivered.task_id), lambda s, p: stage.take_delivery(s, delivered, p)
            )
        case ExpireParkedUpdates(task_id=task_id, at=at):
            wait = ctx.parked_wait
            await ctx.decide(str(task_id), lambda s, p: stage.expire_parked(s, wait, p, at))


async def on_update(ctx: TaskContext, event: EventT[Any]) -> None:
    """An agency's status update, from its own status topic (or forwarded from it)."""
    change = decode(TaskStatusChange, event.value)
    task_id = str(change.task_id)
    require_key(event.key, task_id)
    source = ctx.runtime.source_of(event)
    reporter = ctx.runtime.catalogue.reporter_of(source.topic)
    if reporter is None:
        raise RuntimeError(f"{source.topic} is no recipient's status topic")
    await ctx.runtime.policy_known(None)
    await ctx.decide(
        task_id, lambda s, p: stage.take_update(s, change, reporter, source, p, utc_now())
    )


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    return {
        catalogue.task_commands.name: on_command,
        **{spec.name: on_update for spec in catalogue.task_updates.values()},
        catalogue.routed_updates.name: on_update,
    }

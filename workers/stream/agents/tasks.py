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
from workers.core.messages import (
    TASK_COMMAND,
    CancelTask,
    CreateTasks,
    ExpireParkedUpdates,
    MarkDelivered,
    MarkOverdue,
    NewTask,
    RemindTask,
)
from workers.core.outputs import Progress
from workers.core.policy import Policy
from workers.core.tasks import Decided, TaskSlot
from workers.stream.boundary import answering_at
from workers.stream.pending import note
from workers.stream.runner import StageHandler, commit
from workers.stream.runtime import Runtime, utc_now
from workers.stream.slots import TaskSlots

NAME = "task-state"
log = structlog.get_logger("gvi.tasks")
Decide = Callable[[TaskSlot, Policy], Decided]


@dataclass(frozen=True)
class TaskContext:
    runtime: Runtime
    slots: TaskSlots
    parked_wait: timedelta

    async def decide(self, task_id: str, decide: Decide, policy: Policy | None = None) -> None:
        """Load the task's slot, decide on it with its playbook (the one that planned it, the
        fallback before it is known), commit the decision."""
        book, before = self.runtime.policies, self.slots.load(task_id)
        if policy is None:
            policy = book.for_task(before.record.task) if before.record else book.fallback
        decided = decide(before, policy)
        writes = self.slots.writes(task_id, before, decided.slot)
        await commit(self.runtime, decided, writes, log, task_id=task_id)
        for output in decided.outputs:
            if isinstance(output, Progress):
                for task in output.event.tasks:
                    note("task changed")
                    log.debug("task changed", task_id=task_id, status=task.status.value)


def context(runtime: Runtime) -> TaskContext:
    wait = timedelta(seconds=runtime.settings.parked_update_seconds)
    return TaskContext(runtime, TaskSlots.of(runtime), wait)


async def on_command(ctx: TaskContext, event: EventT[Any]) -> None:
    """The system's commands: keep new tasks, cancel, flag overdue, remind, deliver, expire."""
    command = decode_with(TASK_COMMAND, event.value, outside=False)
    versions = (
        {new.task.policy_version for new in command.tasks}
        if isinstance(command, CreateTasks)
        else {None}
    )
    for version in sorted(versions, key=str):
        await ctx.runtime.policy_known(version)
    match command:
        case CreateTasks(tasks=created, source=source):
            with answering_at(source):
                for new in created:
                    policy = ctx.runtime.policies.for_task(new.task)
                    await ctx.decide(str(new.task.task_id), _keeping(new), policy)
        case CancelTask() as cancel:
            with answering_at(cancel.source):
                await ctx.decide(str(cancel.task_id), lambda s, p: stage.cancel_task(s, cancel, p))
        case MarkOverdue(task_id=task_id, at=at):
            await ctx.decide(str(task_id), lambda s, p: stage.flag_overdue(s, p, at))
        case RemindTask() as remind:
            await ctx.decide(str(remind.task_id), lambda s, p: stage.remind(s, remind, p))
        case MarkDelivered() as late:
            await ctx.decide(str(late.task_id), lambda s, p: stage.take_delivery(s, late, p))
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


def _keeping(new: NewTask) -> Decide:
    return lambda slot, policy: stage.keep_created(slot, new, policy, utc_now())


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    return {
        catalogue.task_commands.name: on_command,
        **{spec.name: on_update for spec in catalogue.task_updates.values()},
        catalogue.routed_updates.name: on_update,
    }

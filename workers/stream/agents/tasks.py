"""Task state: keeps dispatched tasks, applies agencies' updates and the system's commands."""

from datetime import timedelta
from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode, decode_with, require_key
from schemas.task import TaskStatusChange
from workers.core import tasks as task_state
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
from workers.stream.runtime import Runtime, answering_at, subscribe, utc_now
from workers.stream.stores import Store, Writes

log = structlog.get_logger("gvi.tasks")
ROUTINE = {"task kept", "task already known"}


def register(app: Any, runtime: Runtime) -> None:
    """Register the task agent on the internal task commands and on each recipient's
    `gvi.task-updates.<recipient>`."""
    catalogue, policies = runtime.catalogue, runtime.policies
    tasks = Store(runtime.tables["tasks"], TaskRecord)
    parked = Store(runtime.tables["parked-updates"], ParkedUpdates)
    parked_wait = timedelta(seconds=runtime.settings.parked_update_seconds)

    def load(task_id: str) -> TaskSlot:
        return TaskSlot(tasks.get(task_id), parked.get(task_id) or ParkedUpdates())

    def policy_of(slot: TaskSlot) -> Policy:
        """The effective playbook that planned the slot's task (the fallback before it is known)."""
        return policies.for_task(slot.record.task) if slot.record else policies.fallback

    async def settle(task_id: str, before: TaskSlot, decided: Decided) -> None:
        """Send the decision's outputs, then store what changed."""
        after, writes = decided.slot, Writes()
        writes.change(tasks, task_id, before.record, after.record)
        waiting = after.parked if after.parked.updates else None
        writes.change(parked, task_id, before.parked if before.parked.updates else None, waiting)
        await runtime.emit(decided.outputs)
        runtime.apply(writes)
        for output in decided.outputs:
            if isinstance(output, Progress):
                for task in output.event.tasks:
                    log.info("task changed", task_id=task_id, status=task.status.value)
        if decided.happened in ROUTINE:
            log.debug(decided.happened, task_id=task_id)
        elif decided.happened != Decided.happened:
            log.info(decided.happened, task_id=task_id, outputs=len(decided.outputs))

    async def apply_command(event: EventT[Any]) -> None:
        command = decode_with(TASK_COMMAND, event.value, outside=False)
        if isinstance(command, CreateTasks):
            for version in sorted({new.task.policy_version for new in command.tasks}):
                await runtime.policy_known(version)
        else:
            await runtime.policy_known(None)
        match command:
            case CreateTasks(tasks=created, source=source):
                with answering_at(source):
                    for new in created:
                        task_id = str(new.task.task_id)
                        slot = load(task_id)
                        await settle(
                            task_id,
                            slot,
                            task_state.keep_created(
                                slot, new, policies.for_task(new.task), utc_now()
                            ),
                        )
            case CancelTask() as command:
                task_id = str(command.task_id)
                slot = load(task_id)
                with answering_at(command.source):
                    await settle(
                        task_id, slot, task_state.cancel_task(slot, command, policy_of(slot))
                    )
            case MarkOverdue(task_id=task_id, at=at):
                slot = load(str(task_id))
                await settle(str(task_id), slot, task_state.flag_overdue(slot, policy_of(slot), at))
            case RemindTask() as command:
                slot = load(str(command.task_id))
                await settle(
                    str(command.task_id), slot, task_state.remind(slot, command, policy_of(slot))
                )
            case MarkDelivered() as command:
                slot = load(str(command.task_id))
                decided = task_state.take_delivery(slot, command, policy_of(slot))
                await settle(str(command.task_id), slot, decided)
            case ExpireParkedUpdates(task_id=task_id, at=at):
                slot = load(str(task_id))
                decided = task_state.expire_parked(slot, parked_wait, policy_of(slot), at)
                await settle(str(task_id), slot, decided)

    async def apply_update(event: EventT[Any]) -> None:
        change = decode(TaskStatusChange, event.value)
        task_id = str(change.task_id)
        require_key(event.key, task_id)
        source = runtime.source_of(event)
        reporter = catalogue.reporter_of(source.topic)
        if reporter is None:
            raise RuntimeError(f"{source.topic} is no recipient's status topic")
        await runtime.policy_known(None)
        slot = load(task_id)
        decided = task_state.take_update(slot, change, reporter, source, policy_of(slot), utc_now())
        await settle(task_id, slot, decided)

    subscribe(
        app,
        runtime,
        "task-state",
        {
            catalogue.task_commands.name: apply_command,
            **{spec.name: apply_update for spec in catalogue.task_updates.values()},
            catalogue.routed_updates.name: apply_update,
        },
    )

"""Tasks: dispatch to each recipient's topic, the task-state table, and agencies' status updates."""

import uuid
from datetime import timedelta
from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode, decode_internal, encode, require_key
from events.envelopes import SourceRef, TaskCommand, TaskCommandKind, TaskEvent
from schemas.audit import AuditRecord, DisclosureChannel
from schemas.escalation import Escalation, EscalationReason
from schemas.rejection import Refused, RejectionCode
from schemas.task import RecipientTaskView, SanctionTask, TaskStatus, TaskStatusChange
from workers.core.lifecycle import apply_status_change, cancel, mark_delivered, mark_overdue
from workers.core.projection import disclosed_fields, refresh_view
from workers.runtime import RefusedAt, Runtime, answering_at, subscribe, utc_now
from workers.state import AppliedUpdate, ParkedUpdate, ParkedUpdates, TaskRecord

log = structlog.get_logger("gvi.tasks")
AUDIT_NAMESPACE = uuid.UUID("0b7e4c1a-53f2-5d0e-8c3b-2a9f6d4e1b70")
ESCALATING = {
    TaskStatus.DECLINED: EscalationReason.DECLINED,
    TaskStatus.FAILED: EscalationReason.FAILED,
}
MAX_PARKED_PER_TASK = 20
MAX_APPLIED_KEPT = 20


def register(app: Any, runtime: Runtime) -> None:
    """Register the task agent on the internal task commands and on `gvi.task-updates`."""
    catalogue = runtime.catalogue
    tasks = runtime.tables["tasks"]
    parked = runtime.tables["parked-updates"]
    parked_wait = timedelta(seconds=runtime.settings.parked_update_seconds)

    def load(task_id: str) -> TaskRecord | None:
        stored = tasks.get(task_id)
        return TaskRecord.model_validate(stored) if stored else None

    def load_parked(task_id: str) -> ParkedUpdates:
        stored = parked.get(task_id)
        return ParkedUpdates.model_validate(stored) if stored else ParkedUpdates()

    async def disclose(task: SanctionTask, view: RecipientTaskView, disclosure: str) -> None:
        await runtime.send(catalogue.tasks[task.recipient].name, str(task.task_id), encode(view))
        audit = AuditRecord(
            audit_id=uuid.uuid5(
                AUDIT_NAMESPACE, f"{task.task_id}:{DisclosureChannel.KAFKA}:{disclosure}"
            ),
            task_id=task.task_id,
            incident_id=task.incident_id,
            recipient=task.recipient,
            channel=DisclosureChannel.KAFKA,
            disclosed_at=utc_now(),
            legal_basis=task.legal_basis,
            policy_version=task.policy_version,
            rule_id=task.rule_id,
            fields=disclosed_fields(view),
        )
        await runtime.send(catalogue.audit.name, str(task.task_id), encode(audit))

    async def store(
        task: SanctionTask,
        view: RecipientTaskView,
        incident_version: int | None = None,
        applied: tuple[AppliedUpdate, ...] = (),
        previous: SanctionTask | None = None,
    ) -> None:
        task = task.model_copy(update={"revision": (previous.revision if previous else 0) + 1})
        event = TaskEvent(
            event="task",
            incident_id=task.incident_id,
            incident_version=incident_version or task.incident_version,
            policy_version=task.policy_version,
            tasks=(task,),
            at=utc_now(),
        )
        await runtime.send(catalogue.task_events.name, task.incident_id, encode(event))
        record = TaskRecord(task=task, view=view, applied=applied[-MAX_APPLIED_KEPT:])
        tasks[str(task.task_id)] = record.model_dump(mode="json")

    async def escalate(task: SanctionTask, reason: EscalationReason, message: str) -> SanctionTask:
        escalation = Escalation(
            task_id=task.task_id,
            incident_id=task.incident_id,
            recipient=task.recipient,
            reason=reason,
            deadline=task.deadline,
            detected_at=utc_now(),
            message=message[:2000],
        )
        await runtime.send(catalogue.escalations.name, str(task.task_id), encode(escalation))
        return task.model_copy(update={"escalated": True})

    async def apply_command(event: EventT[Any]) -> None:
        command = decode_internal(TaskCommand, event.value)
        task_id = command.subject_id
        record = load(task_id)
        match command.command:
            case TaskCommandKind.EXPIRE_PARKED:
                await expire_parked(task_id, command)
            case TaskCommandKind.MARK_OVERDUE if record is not None:
                await flag_overdue(record, command)
            case TaskCommandKind.MARK_OVERDUE:
                return
            case TaskCommandKind.CREATE:
                with answering_at(command.source):
                    await create(record, command)
            case TaskCommandKind.CANCEL if record is None:
                refusal = Refused(
                    f"cancellation of unknown task {task_id}", RejectionCode.UNKNOWN_TASK
                )
                raise RefusedAt(refusal, command.source)
            case TaskCommandKind.CANCEL:
                with answering_at(command.source):
                    await cancel_task(record, command)

    async def flag_overdue(record: TaskRecord, command: TaskCommand) -> None:
        overdue = mark_overdue(record.task, command.at)
        if not overdue.changed:
            return
        late = overdue.task
        task = await escalate(
            late,
            EscalationReason.OVERDUE,
            f"{late.recipient} has not completed {late.action} ({late.title}), "
            f"due {late.deadline.isoformat()}; status {late.status.value}",
        )
        await store(task, record.view, applied=record.applied, previous=record.task)
        log.warning("task overdue", task_id=str(task.task_id), recipient=task.recipient)

    async def create(record: TaskRecord | None, command: TaskCommand) -> None:
        task_id = command.subject_id
        if record is not None or command.task is None or command.view is None:
            log.info("task already created", task_id=task_id)
            await release_parked(task_id)
            return
        task = mark_delivered(command.task, utc_now()).task
        view = refresh_view(command.view, task, runtime.policy)
        await disclose(task, view, "created")
        await store(task, view)
        log.info("task dispatched", task_id=task_id, recipient=task.recipient, action=task.action)
        await release_parked(task_id)

    async def cancel_task(record: TaskRecord, command: TaskCommand) -> None:
        transition = cancel(record.task, command.reason or "cancelled", command.at)
        if not transition.changed:
            return
        view = refresh_view(record.view, transition.task, runtime.policy)
        await disclose(transition.task, view, "cancelled")
        await store(transition.task, view, command.incident_version, record.applied, record.task)
        log.info("task cancelled", task_id=command.subject_id, reason=command.reason)

    async def apply_update(event: EventT[Any]) -> None:
        change = decode(TaskStatusChange, event.value)
        require_key(event.key, str(change.task_id))
        record = load(str(change.task_id))
        if record is None:
            park(change, runtime.source_of(event))
            return
        await change_status(record, change)

    async def change_status(record: TaskRecord, change: TaskStatusChange) -> None:
        repeated = record.has_applied(change)
        transition = None if repeated else apply_status_change(record.task, change)
        if transition is None or not transition.changed:
            log.info("repeated status update ignored", task_id=str(change.task_id))
            return
        task = transition.task
        if task.status in ESCALATING:
            task = await escalate(
                task,
                ESCALATING[task.status],
                f"{task.recipient} {task.status.value} {task.action}: {task.status_reason}",
            )
        view = refresh_view(record.view, task, runtime.policy)
        await store(
            task, view, applied=(*record.applied, AppliedUpdate.of(change)), previous=record.task
        )
        log.info("task status changed", task_id=str(task.task_id), status=task.status.value)

    def park(change: TaskStatusChange, source: SourceRef) -> None:
        """Keep an update whose task is not known yet: after a crash, an agency can report on a
        task whose creation is read again only after its report."""
        task_id = str(change.task_id)
        waiting = load_parked(task_id)
        update = ParkedUpdate(change=change, source=source, parked_at=utc_now())
        parked[task_id] = waiting.with_update(update, MAX_PARKED_PER_TASK).model_dump(mode="json")
        log.info(
            "status update parked until its task is known",
            task_id=task_id,
            status=change.status.value,
            waiting=len(waiting.updates) + 1,
        )

    async def release_parked(task_id: str) -> None:
        """Apply the updates parked for a task that is now known, in the order they arrived."""
        waiting = load_parked(task_id)
        if not waiting.updates:
            return
        for update in waiting.updates:
            record = load(task_id)
            if record is None:
                return
            try:
                await change_status(record, update.change)
            except Refused as refusal:
                await runtime.reject(update.source, refusal.code, refusal.message)
        del parked[task_id]
        log.info("parked status updates applied", task_id=task_id, count=len(waiting.updates))

    async def expire_parked(task_id: str, command: TaskCommand) -> None:
        """Reject the updates of a task id that stayed unknown for `parked_update_seconds`."""
        if load(task_id) is not None:
            await release_parked(task_id)
            return
        waiting = load_parked(task_id)
        if not waiting.expired_at(command.at, parked_wait):
            return
        for update in waiting.updates:
            await runtime.reject(
                update.source,
                RejectionCode.UNKNOWN_TASK,
                f"no task {task_id} is known; the update waited "
                f"{parked_wait.total_seconds():.0f} s for it",
            )
        del parked[task_id]
        log.warning("parked status updates rejected", task_id=task_id, count=len(waiting.updates))

    subscribe(
        app,
        runtime,
        "task-state",
        {
            catalogue.task_commands.name: apply_command,
            catalogue.task_updates.name: apply_update,
            catalogue.routed_from(catalogue.task_updates).name: apply_update,
        },
    )

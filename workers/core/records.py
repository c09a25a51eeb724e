"""The records the agents keep in their tables (JSON in the changelog); not a public contract."""

from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schemas.history import GroupHistory
from schemas.rejection import Refused, RejectionCode
from schemas.task import SanctionTask, TaskStatus, TaskStatusChange
from workers.core.messages import PlanForGroup, SourceRef, TaskLine
from workers.core.planner import PlannedTask
from workers.core.projection import TaskContext


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GroupPlans(_State):
    """Per group: its sanction history (bounded) and the incidents waiting for its profile."""

    group_id: str
    history: GroupHistory
    waiting: tuple[str, ...] = ()

    @classmethod
    def empty(cls, group_id: str) -> "GroupPlans":
        return cls(group_id=group_id, history=GroupHistory(group_id=group_id))


class IncidentPlan(_State):
    """Per group and incident (table `incident-plans`): the tasks planned and still open, compact.
    Kept apart from the group's record so that neither grows with the group's history."""

    version: int
    tasks: tuple[PlannedTask, ...] = ()
    cancelled: tuple[UUID, ...] = ()
    """Tasks cancelled earlier: the task agent keeps them cancelled, so planning never sends
    them again (a later version may call for the same task id)."""


class ParkedIncident(_State):
    """Per group and incident (table `parked-incidents`): work for a group not yet known, and
    every message that is waiting for it (each gets its answer when the group arrives or the
    wait ends)."""

    work: PlanForGroup
    sources: tuple[SourceRef, ...]
    parked_at: datetime

    def expired_at(self, now: datetime, wait: timedelta) -> bool:
        return now - self.parked_at >= wait


def plan_key(group_id: str, incident_id: str) -> str:
    """The key of a group's plan for one incident; ids never hold `/`."""
    return f"{group_id}/{incident_id}"


class AppliedUpdate(_State):
    """An agency's status update that changed the task: enough to know it when it comes again."""

    status: TaskStatus
    changed_at: datetime
    reported_by: str

    @classmethod
    def of(cls, change: TaskStatusChange) -> "AppliedUpdate":
        return cls(
            status=change.status, changed_at=change.changed_at, reported_by=change.reported_by
        )


class TaskRecord(_State):
    """Per task: the task itself, the incident's and group's facts its recipient may see (its
    view is built from both), and the updates applied."""

    task: SanctionTask
    context: TaskContext
    applied: tuple[AppliedUpdate, ...] = ()
    reminded_at: datetime | None = None
    """When its reminder went out (once per task)."""

    def has_applied(self, change: TaskStatusChange) -> bool:
        """True for an update applied before: one read again after a crash, before its offset
        was committed, must change nothing, not be refused as a backward move."""
        return AppliedUpdate.of(change) in self.applied


class IncidentTasks(_State):
    """Per incident (table `incident-progress`): its version and the groups whose task lines
    are kept under `progress_key(incident, group)`; split so that no record grows with the
    number of groups or members."""

    incident_id: str
    incident_version: int
    policy_version: str
    groups: tuple[str, ...] = ()
    partnership: str | None = None


class GroupTaskLines(_State):
    """Per incident and group: every task's latest line, by task id."""

    tasks: dict[str, TaskLine] = {}


def progress_key(incident_id: str, group_id: str) -> str:
    return f"{incident_id}/{group_id}"


class ParkedUpdate(_State):
    """A status update that arrived before its task was known, and where it was read."""

    change: TaskStatusChange
    source: SourceRef
    parked_at: datetime


class ParkedUpdates(_State):
    """Per task id not yet known: its status updates in arrival order, kept until it is."""

    updates: tuple[ParkedUpdate, ...] = ()

    def with_update(self, update: ParkedUpdate, limit: int) -> "ParkedUpdates":
        """These updates and one more. Each message is kept once by where it was read (read
        again after a crash, it is the same message); an identical update sent again is another
        message and gets its own answer. Raises Refused when `limit` updates already wait."""
        if any(waiting.source == update.source for waiting in self.updates):
            return self
        if len(self.updates) >= limit:
            raise Refused(
                f"no task {update.change.task_id} is known, and {limit} updates already wait",
                RejectionCode.UNKNOWN_TASK,
            )
        return ParkedUpdates(updates=(*self.updates, update))

    def expired_at(self, now: datetime, wait: timedelta) -> bool:
        """True once the oldest update has waited `wait` for its task."""
        return bool(self.updates) and now - self.updates[0].parked_at >= wait


NO_PARKED_UPDATES = ParkedUpdates()
"""The empty value, shared (records are frozen): most task ids have no updates waiting."""

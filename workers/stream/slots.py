"""Each stage's slot as its stores keep it: how it is loaded by key, and the table writes that
take a slot from before to after (only what changed is written)."""

from dataclasses import dataclass

from schemas.group import GroupProfile
from workers.core.completion import IncidentSlot
from workers.core.planning import GroupSlot
from workers.core.records import (
    NO_PARKED_UPDATES,
    GroupPlans,
    GroupTaskLines,
    IncidentPlan,
    IncidentTasks,
    ParkedIncident,
    ParkedUpdates,
    TaskRecord,
    plan_key,
    progress_key,
)
from workers.core.tasks import TaskSlot
from workers.stream.runtime import Runtime
from workers.stream.stores import Store, Writes


@dataclass(frozen=True)
class TaskSlots:
    """A task and the updates waiting for it, by task id."""

    tasks: Store[TaskRecord]
    parked: Store[ParkedUpdates]

    @classmethod
    def of(cls, runtime: Runtime) -> "TaskSlots":
        tables = runtime.tables
        return cls(
            Store(tables["tasks"], TaskRecord), Store(tables["parked-updates"], ParkedUpdates)
        )

    def load(self, task_id: str) -> TaskSlot:
        return TaskSlot(self.tasks.get(task_id), self.parked.get(task_id) or NO_PARKED_UPDATES)

    def writes(self, task_id: str, before: TaskSlot, after: TaskSlot) -> Writes:
        writes = Writes()
        writes.change(self.tasks, task_id, before.record, after.record)
        waiting = after.parked if after.parked.updates else None
        earlier = before.parked if before.parked.updates else None
        writes.change(self.parked, task_id, earlier, waiting)
        return writes


@dataclass(frozen=True)
class GroupSlots:
    """A group's profile and plans, and its plan for one incident, by group and incident id."""

    groups: Store[GroupProfile]
    group_plans: Store[GroupPlans]
    incident_plans: Store[IncidentPlan]
    parked: Store[ParkedIncident]

    @classmethod
    def of(cls, runtime: Runtime) -> "GroupSlots":
        tables = runtime.tables
        return cls(
            Store(tables["groups"], GroupProfile),
            Store(tables["group-plans"], GroupPlans),
            Store(tables["incident-plans"], IncidentPlan),
            Store(tables["parked-incidents"], ParkedIncident),
        )

    def load(self, group_id: str, incident_id: str) -> GroupSlot:
        key = plan_key(group_id, incident_id)
        return GroupSlot(
            self.groups.get(group_id),
            self.group_plans.get(group_id) or GroupPlans.empty(group_id),
            self.incident_plans.get(key),
            self.parked.get(key),
        )

    def writes(
        self, group_id: str, incident_id: str, before: GroupSlot, after: GroupSlot
    ) -> Writes:
        key, writes = plan_key(group_id, incident_id), Writes()
        writes.change(self.incident_plans, key, before.incident_plan, after.incident_plan)
        writes.change(self.parked, key, before.parked, after.parked)
        writes.change(self.group_plans, group_id, before.plans, after.plans)
        return writes


@dataclass(frozen=True)
class IncidentSlots:
    """An incident's progress: its header and each group's task lines, by incident id."""

    headers: Store[IncidentTasks]
    lines: Store[GroupTaskLines]

    @classmethod
    def of(cls, runtime: Runtime) -> "IncidentSlots":
        table = runtime.tables["incident-progress"]
        return cls(Store(table, IncidentTasks), Store(table, GroupTaskLines))

    def load(self, incident_id: str, groups: set[str]) -> IncidentSlot:
        """The incident's slot with the lines of its known groups and of `groups`."""
        header = self.headers.get(incident_id)
        known = header.groups if header is not None else ()
        lines = {}
        for group_id in (*known, *sorted(groups - set(known))):
            stored = self.lines.get(progress_key(incident_id, group_id))
            if stored is not None:
                lines[group_id] = stored.tasks
        if header is None:
            return IncidentSlot(lines=lines)
        return IncidentSlot(
            header.incident_version, header.policy_version, header.partnership, known, lines
        )

    def writes(self, incident_id: str, before: IncidentSlot, after: IncidentSlot) -> Writes:
        writes = Writes()
        if after is before or after.version is None:
            return writes
        for group_id, lines in after.lines.items():
            if lines is not before.lines.get(group_id):
                key = progress_key(incident_id, group_id)
                writes.put(self.lines, key, GroupTaskLines(tasks=dict(lines)))
        header = IncidentTasks(
            incident_id=incident_id,
            incident_version=after.version,
            policy_version=after.policy_version,
            groups=after.groups,
            partnership=after.partnership,
        )
        writes.put(self.headers, incident_id, header)
        return writes

"""Planning per group: the group registry, each incident's plan for the group, the dispatch of
new tasks, and incidents that wait for a group's profile."""

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog
from faust.types import EventT

from events.catalogue import Catalogue
from events.codec import decode, decode_with, key_text, require_key
from schemas.group import GroupProfile
from schemas.rejection import Refused
from workers.core.decision import Outcome
from workers.core.messages import GROUP_WORK, GiveUpWaiting, PlanForGroup, RetractForGroup
from workers.core.outputs import Answer
from workers.core.planning import GroupSlot, Planned, give_up_waiting, plan_for_group, unparked
from workers.core.policy import Policy
from workers.stream.boundary import answering_at
from workers.stream.pending import note
from workers.stream.runner import StageHandler, commit
from workers.stream.runtime import Runtime, utc_now
from workers.stream.slots import GroupSlots
from workers.stream.stores import Writes

NAME = "group-planning"
log = structlog.get_logger("gvi.planning")


@dataclass(frozen=True)
class PlanningContext:
    runtime: Runtime
    slots: GroupSlots
    parked_wait: timedelta

    def policy_of(self, work: PlanForGroup | RetractForGroup) -> Policy:
        """The effective playbook intake chose for the incident (raises UnknownPartnership)."""
        book = self.runtime.policies
        if isinstance(work, RetractForGroup):
            known = book.effective(work.policy_version) if work.policy_version else None
            return known or book.fallback
        return book.for_incident(work.incident, work.policy_version)

    async def settle(
        self, group_id: str, incident_id: str, before: GroupSlot, planned: Planned
    ) -> None:
        writes = self.slots.writes(group_id, incident_id, before, planned.slot)
        fields = {"group_id": group_id, "incident_id": incident_id}
        await commit(
            self.runtime,
            planned,
            writes,
            log,
            **fields,
            added=planned.added,
            cancelled=planned.cancelled,
        )
        if planned.added:
            note("tasks dispatched")
            log.debug("tasks dispatched", incident_id=incident_id, count=planned.added)


def context(runtime: Runtime) -> PlanningContext:
    wait = timedelta(seconds=runtime.settings.parked_incident_seconds)
    return PlanningContext(runtime, GroupSlots.of(runtime), wait)


async def on_group_work(ctx: PlanningContext, event: EventT[Any]) -> None:
    """An incident's work for one group from intake, or the deadline timer's give-up."""
    work = decode_with(GROUP_WORK, event.value, outside=False)
    runtime = ctx.runtime
    if isinstance(work, PlanForGroup | RetractForGroup):
        await runtime.policy_known(work.policy_version)
    slot, now = ctx.slots.load(work.group_id, work.incident_id), utc_now()
    if isinstance(work, GiveUpWaiting):
        planned = give_up_waiting(slot, work, ctx.parked_wait, now)
        await ctx.settle(work.group_id, work.incident_id, slot, planned)
        return
    with answering_at(work.source):
        unreachable = runtime.unreachable_recipients()
        planned = plan_for_group(slot, work, ctx.policy_of(work), now, unreachable)
        await ctx.settle(work.group_id, work.incident_id, slot, planned)
    if isinstance(work, PlanForGroup) and planned.added and work.published_at:
        published = work.published_at
        runtime.once_sent(lambda: runtime.metrics.observe_dispatch(published, utc_now()))


async def on_group_profile(ctx: PlanningContext, event: EventT[Any]) -> None:
    """A group's profile (or its removal); incidents that waited for it are planned now."""
    key, writes = key_text(event.key), Writes()
    if event.value is None and key:
        writes.pop(ctx.slots.groups, key)
        ctx.runtime.apply(writes)
        log.info("group removed", group_id=key)
        return
    profile = decode(GroupProfile, event.value)
    require_key(event.key, profile.group_id)
    writes.put(ctx.slots.groups, profile.group_id, profile)
    ctx.runtime.apply(writes)
    log.info("group registered", group_id=profile.group_id, member_count=len(profile.members))
    waiting = ctx.slots.group_plans.get(profile.group_id)
    for incident_id in waiting.waiting if waiting is not None else ():
        await plan_parked(ctx, profile.group_id, incident_id)


async def plan_parked(ctx: PlanningContext, group_id: str, incident_id: str) -> None:
    """Plan an incident that waited for its group's profile; a refusal is answered at the
    coordinates of the incident's message."""
    slot = ctx.slots.load(group_id, incident_id)
    if slot.parked is None:
        await ctx.settle(group_id, incident_id, slot, Planned(unparked(slot, incident_id)))
        return
    work, unreachable = slot.parked.work, ctx.runtime.unreachable_recipients()
    await ctx.runtime.policy_known(work.policy_version)
    try:
        planned = plan_for_group(slot, work, ctx.policy_of(work), utc_now(), unreachable)
        planned = replace(planned, outcome=Outcome.PARKED_INCIDENT_PLANNED)
    except Refused as refusal:
        answer = Answer(work.source, refusal.code, refusal.message)
        refused = Outcome.PARKED_INCIDENT_REFUSED
        planned = Planned(unparked(slot, incident_id), (answer,), refused)
    await ctx.settle(group_id, incident_id, slot, planned)


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    groups = catalogue.groups
    return {
        catalogue.group_work.name: on_group_work,
        groups.name: on_group_profile,
        catalogue.routed_from(groups).name: on_group_profile,
    }

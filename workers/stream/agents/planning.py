"""Planning per group: the group registry, each incident's plan for the group, the dispatch of
new tasks, and incidents that wait for a group's profile."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode, decode_with, key_text, require_key
from schemas.group import GroupProfile
from schemas.rejection import Refused
from workers.core.messages import GROUP_WORK, GiveUpWaiting, PlanForGroup, RetractForGroup
from workers.core.outputs import Answer
from workers.core.planning import (
    GroupSlot,
    Planned,
    give_up_waiting,
    plan_for_group,
    unparked,
)
from workers.core.policy import Policy
from workers.core.records import GroupPlans, IncidentPlan, ParkedIncident, plan_key
from workers.stream.runtime import Runtime, answering_at, subscribe, utc_now
from workers.stream.stores import Store, Writes

log = structlog.get_logger("gvi.planning")


def register(app: Any, runtime: Runtime) -> None:
    """Register the planning agent on the group profiles and the internal group work, which are
    co-partitioned by group id."""
    catalogue, policies = runtime.catalogue, runtime.policies
    groups = Store(runtime.tables["groups"], GroupProfile)
    group_plans = Store(runtime.tables["group-plans"], GroupPlans)
    incident_plans = Store(runtime.tables["incident-plans"], IncidentPlan)
    parked = Store(runtime.tables["parked-incidents"], ParkedIncident)
    parked_wait = timedelta(seconds=runtime.settings.parked_incident_seconds)

    def policy_of(work: PlanForGroup | RetractForGroup) -> Policy:
        """The effective playbook intake chose for the incident (raises UnknownPartnership)."""
        if isinstance(work, RetractForGroup):
            known = policies.effective(work.policy_version) if work.policy_version else None
            return known or policies.fallback
        return policies.for_incident(work.incident, work.policy_version)

    def load(group_id: str, incident_id: str) -> GroupSlot:
        key = plan_key(group_id, incident_id)
        return GroupSlot(
            groups.get(group_id),
            group_plans.get(group_id) or GroupPlans.empty(group_id),
            incident_plans.get(key),
            parked.get(key),
        )

    async def settle(group_id: str, incident_id: str, before: GroupSlot, planned: Planned) -> None:
        """Send the decision's outputs, then store what changed."""
        after, key, writes = planned.slot, plan_key(group_id, incident_id), Writes()
        writes.change(incident_plans, key, before.incident_plan, after.incident_plan)
        writes.change(parked, key, before.parked, after.parked)
        writes.change(group_plans, group_id, before.plans, after.plans)
        await runtime.emit(planned.outputs)
        runtime.apply(writes)
        if planned.happened == Planned.happened:
            return
        log.info(
            planned.happened,
            group_id=group_id,
            incident_id=incident_id,
            added=planned.added,
            cancelled=planned.cancelled,
        )
        if planned.added:
            log.info("tasks dispatched", incident_id=incident_id, count=planned.added)

    async def take_work(event: EventT[Any]) -> None:
        work = decode_with(GROUP_WORK, event.value, outside=False)
        if isinstance(work, PlanForGroup | RetractForGroup):
            await runtime.policy_known(work.policy_version)
        slot = load(work.group_id, work.incident_id)
        match work:
            case PlanForGroup() | RetractForGroup():
                with answering_at(work.source):
                    planned = plan_for_group(
                        slot, work, policy_of(work), utc_now(), runtime.unreachable_recipients()
                    )
                    await settle(work.group_id, work.incident_id, slot, planned)
                if isinstance(work, PlanForGroup) and planned.added and work.published_at:
                    waited = (utc_now() - work.published_at).total_seconds()
                    runtime.metrics.dispatch_seconds.observe(max(waited, 0.0))
            case GiveUpWaiting():
                planned = give_up_waiting(slot, work, parked_wait, utc_now())
                await settle(work.group_id, work.incident_id, slot, planned)

    async def register_group(event: EventT[Any]) -> None:
        key = key_text(event.key)
        writes = Writes()
        if event.value is None and key:
            writes.pop(groups, key)
            runtime.apply(writes)
            log.info("group removed", group_id=key)
            return
        profile = decode(GroupProfile, event.value)
        require_key(event.key, profile.group_id)
        writes.put(groups, profile.group_id, profile)
        runtime.apply(writes)
        log.info("group registered", group_id=profile.group_id, member_count=len(profile.members))
        waiting = group_plans.get(profile.group_id)
        for incident_id in waiting.waiting if waiting is not None else ():
            await plan_parked(profile.group_id, incident_id)

    async def plan_parked(group_id: str, incident_id: str) -> None:
        """Plan an incident that waited for its group's profile; a refusal is answered at the
        coordinates of the incident's message."""
        slot = load(group_id, incident_id)
        if slot.parked is None:
            await settle(group_id, incident_id, slot, Planned(unparked(slot, incident_id)))
            return
        source = slot.parked.work.source
        await runtime.policy_known(slot.parked.work.policy_version)
        try:
            planned = plan_for_group(
                slot,
                slot.parked.work,
                policy_of(slot.parked.work),
                utc_now(),
                runtime.unreachable_recipients(),
            )
            planned = replace(
                planned, happened="parked incident planned now that its group is known"
            )
        except Refused as refusal:
            answer = Answer(source, refusal.code, refusal.message)
            planned = Planned(unparked(slot, incident_id), (answer,), "parked incident refused")
        await settle(group_id, incident_id, slot, planned)

    subscribe(
        app,
        runtime,
        "group-planning",
        {
            catalogue.group_work.name: take_work,
            catalogue.groups.name: register_group,
            catalogue.routed_from(catalogue.groups).name: register_group,
        },
    )

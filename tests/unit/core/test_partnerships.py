"""Partnerships: planning by municipality, need to know between authorities, adaptations applied
exactly, and the playbook version in force at an incident's report."""

import asyncio
import copy
import time
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.incident import IncidentCorrected
from tests.support.strategies import groups, histories, incidents, moments
from workers.core.intake import IncidentRecord, policy_of
from workers.core.partnerships import (
    PolicyBook,
    PublishedPolicy,
    UnknownPartnership,
    partnership_for,
    policy_for_incident,
)
from workers.core.planner import plan
from workers.core.policy import Adaptations, Policy, PolicyInvalid, Scope, effective_policy
from workers.core.policy_checks import parse_policy
from workers.policies import load_policy

BASE = load_policy()
TEXT = resources.files("workers.policies").joinpath("default.yaml").read_text("utf-8")
NATIONAL = frozenset(r.id for r in BASE.recipients if r.scope is Scope.NATIONAL)
MUNICIPALITIES = ["Huddinge", "Örebro", "Järfälla", "Upplands-Bro", "Uppsala"]


def _document() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(TEXT))


def _issues(document: dict[str, Any]) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(document, "test")
    return [str(issue) for issue in caught.value.issues]


def _versioned(version: str) -> Policy:
    return BASE.model_copy(update={"policy_version": version})


@settings(max_examples=150, deadline=None)
@given(incidents(), groups(), histories(), st.sampled_from(MUNICIPALITIES))
def test_every_task_goes_to_the_incidents_partnership_or_a_national_authority(
    reported, profile, history, municipality: str
) -> None:  # type: ignore[no-untyped-def]
    reported = reported.model_copy(update={"municipality": municipality})
    partnership = partnership_for(BASE, municipality)
    assert partnership is not None
    own = {local.id for local in partnership.local_recipients.values()}
    effective = policy_for_incident(BASE, reported)
    decision = plan(reported, {profile.group_id: profile}, {profile.group_id: history}, effective)
    for task in decision.tasks:
        assert task.recipient in own | NATIONAL, task.recipient
        assert task.partnership == partnership.id
        assert task.policy_version == f"{BASE.policy_version}:{partnership.id}"
    others = {
        local.id
        for other in BASE.partnerships
        if other.id != partnership.id
        for local in other.local_recipients.values()
    }
    assert not {task.recipient for task in decision.tasks} & others


@settings(max_examples=100, deadline=None)
@given(incidents(), groups(), histories())
def test_a_partnership_without_adaptations_plans_what_the_base_playbook_plans(
    reported, profile, history
) -> None:  # type: ignore[no-untyped-def]
    huddinge = next(p for p in BASE.partnerships if p.id == "huddinge")
    everything = huddinge.model_copy(
        update={
            "local_recipients": {
                role: local.model_copy(update={"id": f"{role}-x"})
                for role, local in {
                    **huddinge.local_recipients,
                    "lansstyrelsen": huddinge.local_recipients["socialtjansten"],
                }.items()
            },
            "adaptations": Adaptations(),
        }
    )
    effective = effective_policy(BASE, everything)
    reported = reported.model_copy(update={"municipality": "Huddinge"})
    profiles, past = {profile.group_id: profile}, {profile.group_id: history}
    base_tasks = plan(reported, profiles, past, BASE).tasks
    local_tasks = plan(reported, profiles, past, effective).tasks
    roles = {r.id for r in BASE.recipients if r.scope is Scope.LOCAL}

    def shape(task: Any, rename: bool) -> tuple[Any, ...]:
        recipient = task.recipient.removesuffix("-x") if rename else task.recipient
        return (recipient, task.rule_id, task.action, task.subject, task.deadline, task.reason)

    assert [shape(t, True) for t in local_tasks] == [shape(t, False) for t in base_tasks]
    assert {t.recipient for t in local_tasks} <= NATIONAL | {f"{role}-x" for role in roles}


@settings(max_examples=100, deadline=None)
@given(incidents(), groups(), histories())
def test_adaptations_apply_exactly(reported, profile, history) -> None:  # type: ignore[no-untyped-def]
    document = _document()
    huddinge = next(p for p in document["partnerships"] if p["id"] == "huddinge")
    huddinge["national_recipients"] = ["police-investigation", "kriminalvarden", "skatteverket"]
    huddinge["adaptations"] = {
        "rules_off": ["lesser-violence-by-notified-group"],
        "deadlines": [
            {"rule": "tier1-serious-violence", "action": "tax-review", "deadline": {"days": 3}}
        ],
        "reminder_share": 0.5,
    }
    adapted = parse_policy(document, "adapted")
    reported = reported.model_copy(update={"municipality": "Huddinge"})
    profiles, past = {profile.group_id: profile}, {profile.group_id: history}
    effective = policy_for_incident(adapted, reported)
    unadapted = policy_for_incident(BASE, reported)
    base_tasks = plan(reported, profiles, past, unadapted).tasks
    tasks = plan(reported, profiles, past, effective).tasks
    assert effective.reminder_share == 0.5
    left_out = {"kronofogden", "forsakringskassan"}
    expected = [
        t
        for t in base_tasks
        if t.rule_id != "lesser-violence-by-notified-group" and t.recipient not in left_out
    ]
    assert [t.task_id for t in tasks] == [t.task_id for t in expected]
    for task, before in zip(tasks, expected, strict=True):
        if (task.rule_id, task.action) == ("tier1-serious-violence", "tax-review"):
            assert task.deadline == reported.reported_at + timedelta(days=3)
        else:
            assert task.deadline == before.deadline


def test_an_extra_recipient_of_one_partnership_gets_tasks_only_there() -> None:
    orebro = policy_for_incident(BASE, _incident("Örebro"))
    huddinge = policy_for_incident(BASE, _incident("Huddinge"))
    tier2 = next(rule for rule in orebro.rules if rule.id == "tier2-repeat-serious-violence")
    assert "lansstyrelsen-orebro" in {t.recipient for t in tier2.tasks}
    assert not any(
        t.recipient.startswith("lansstyrelsen") for rule in huddinge.rules for t in rule.tasks
    )
    patrol = next(t for t in orebro.rules[1].tasks if t.action == "patrol-focus")
    assert patrol.deadline.delta == timedelta(hours=6), "Örebro's adaptation"


def test_an_incident_in_a_municipality_without_a_partnership_is_refused_with_its_code() -> None:
    with pytest.raises(UnknownPartnership) as refused:
        policy_for_incident(BASE, _incident("Botkyrka"))
    assert refused.value.code.value == "unknown_partnership"
    assert "'Botkyrka'" in refused.value.message
    assert partnership_for(BASE, "  upplands-bro ").id == "jarfalla-upplands-bro"  # type: ignore[union-attr]


def test_task_ids_are_deterministic_and_name_the_partnership() -> None:
    from tests.support.builders import group

    reported = _incident("Huddinge")
    first = plan(reported, {"GRP-TEST-A": group()}, {}, policy_for_incident(BASE, reported))
    again = plan(reported, {"GRP-TEST-A": group()}, {}, policy_for_incident(BASE, reported))
    assert [t.task_id for t in first.tasks] == [t.task_id for t in again.tasks]
    moved = reported.model_copy(update={"municipality": "Uppsala"})
    elsewhere = plan(moved, {"GRP-TEST-A": group()}, {}, policy_for_incident(BASE, moved))
    assert not {t.task_id for t in first.tasks} & {t.task_id for t in elsewhere.tasks}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(moments, min_size=0, max_size=5),
    moments,
    st.permutations(range(5)),
)
def test_the_version_in_force_is_the_newest_not_after_the_report(
    effective_times: list[Any], reported_at: Any, order: list[int]
) -> None:
    published = [
        PublishedPolicy(_versioned(f"v{index}"), moment, sequence=index)
        for index, moment in enumerate(effective_times)
    ]
    book = PolicyBook(BASE)
    for index in order:
        if index < len(published):
            book.add(published[index])
    candidates = [p for p in published if p.effective_from <= reported_at]
    expected = (
        max(candidates, key=lambda p: (p.effective_from, p.sequence)).policy.policy_version
        if candidates
        else BASE.policy_version
    )
    assert book.in_force(reported_at).policy_version == expected
    assert not book.add(published[0]) if published else True


def test_a_correction_is_planned_with_the_version_of_the_first_report() -> None:
    first = _incident("Huddinge")
    book = PolicyBook(BASE)
    newer = _versioned("2027.01-next")
    book.add(PublishedPolicy(newer, first.reported_at + timedelta(minutes=1), 1))
    planned = policy_of(None, first, book)
    assert planned.policy_version == f"{BASE.policy_version}:huddinge"
    record = IncidentRecord(
        incident_id=first.incident_id,
        version=1,
        digest="d",
        groups=(),
        policy_version=planned.policy_version,
    )
    correction = IncidentCorrected(
        **first.model_dump(exclude={"kind", "version", "reported_at", "municipality"}),
        version=2,
        reported_at=first.reported_at + timedelta(hours=1),
        municipality="Örebro",
    )
    again = policy_of(record, correction, book)
    assert again.policy_version == f"{BASE.policy_version}:orebro", (
        "the first report's base version, the corrected municipality's partnership"
    )
    fresh = _incident("Huddinge").model_copy(
        update={"incident_id": "INC-LATER", "reported_at": first.reported_at + timedelta(hours=1)}
    )
    assert policy_of(None, fresh, book).policy_version == "2027.01-next:huddinge"


def test_partnership_mistakes_are_named_with_their_path() -> None:
    document = _document()
    document["partnerships"][0]["local_recipients"]["skatteverket"] = {
        "id": "skatteverket-huddinge",
        "name": "A national authority bound locally",
    }
    document["partnerships"][1]["municipalities"].append("huddinge")
    document["partnerships"][2]["national_recipients"] = ["pensionsmyndigheten"]
    document["partnerships"][2]["adaptations"]["rules_off"] = ["no-such-rule"]
    document["partnerships"][3]["local_recipients"]["police-patrol"]["id"] = "skatteverket"
    issues = _issues(document)
    assert any(i.startswith("partnerships[0].local_recipients.skatteverket:") for i in issues)
    assert any(
        i.startswith("partnerships[1].municipalities[2]:") and "huddinge" in i for i in issues
    )
    assert any(i.startswith("partnerships[2].national_recipients[0]:") for i in issues)
    assert any(i.startswith("partnerships[2].adaptations.rules_off[0]:") for i in issues)
    assert any(i.startswith("partnerships[3].local_recipients.police-patrol.id:") for i in issues)


def test_an_adapted_deadline_that_puts_a_follow_up_before_its_sanctions_is_refused() -> None:
    document = _document()
    document["partnerships"][0]["adaptations"] = {
        "deadlines": [
            {"rule": "tier1-serious-violence", "action": "tax-review", "deadline": {"days": 60}}
        ]
    }
    issues = _issues(document)
    assert any(
        i.startswith("partnerships[0].adaptations.deadlines:") and "follow_up" in i for i in issues
    )


def test_a_local_role_without_partnerships_is_refused() -> None:
    document = _document()
    del document["partnerships"]
    assert any(i.startswith("recipients: local roles") for i in _issues(document))


def _incident(municipality: str) -> Any:
    from tests.support.builders import incident

    return incident(municipality=municipality)


async def test_intake_waits_for_the_playbooks_up_to_the_report_and_no_longer() -> None:
    from datetime import UTC, datetime

    from events.connection import KafkaConnection
    from workers.stream.policy_feed import PolicyFeed

    feed = PolicyFeed(
        KafkaConnection("127.0.0.1:9"),
        "gvi.policies",
        PolicyBook(BASE),
        frozenset(),
        wait_limit_seconds=0.5,
    )
    now = datetime.now(UTC)
    feed.confirmed_at = now
    started = time.monotonic()
    await feed.current_at(now - timedelta(seconds=1))
    assert time.monotonic() - started < 0.05, "a report before the last check: no wait"
    await feed.current_at(now + timedelta(days=1))
    assert time.monotonic() - started < 0.05, "a report far ahead of the clock: no wait"

    async def refresh() -> None:  # what the reader does after its next look at the topic
        await feed._wanted.wait()
        feed.confirmed_at = datetime.now(UTC)
        feed._refreshed.set()

    reader = asyncio.create_task(refresh())
    soon = datetime.now(UTC) + timedelta(milliseconds=1)
    await asyncio.sleep(0.01)
    await feed.current_at(soon)
    assert feed.confirmed_at >= soon and time.monotonic() - started < 0.4
    await reader
    nobody = datetime.now(UTC) + timedelta(seconds=0.2)
    started = time.monotonic()
    await feed.current_at(nobody)  # no reader answers: the wait ends at the limit
    assert 0.45 <= time.monotonic() - started < 1.0

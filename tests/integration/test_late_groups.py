"""Incidents that arrive before their group's profile, and retracted incidents in the history."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from events.codec import encode
from tests.support.builders import attribution
from tests.support.deployment import Deployment
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, retraction

pytestmark = pytest.mark.broker


def test_an_incident_published_before_its_group_is_planned_when_the_group_arrives(
    deployment: Deployment,
) -> None:
    deployment.start_worker()
    group = notified_group("GRP-IT-LATE")
    reported = fresh_incident("INC-IT-LATE", group.group_id)
    expected = expected_tasks(reported, group)
    deployment.publish("incidents", [(reported.incident_id, encode(reported))])
    deployment.wait_for_log("incident parked until its group is known")
    deployment.publish("groups", [(group.group_id, encode(group))])
    audit = deployment.wait_for("audit", lambda values: len(values) >= len(expected))
    assert {a["task_id"] for a in audit} == {str(t.task_id) for t in expected}
    deployment.wait_for_log("parked incident planned now that its group is known")
    assert deployment.values("rejected") == []


def test_a_message_whose_groups_stay_unknown_is_answered_once_and_can_be_sent_again(
    deployment: Deployment,
) -> None:
    deployment.start_worker(parked_incident_seconds=2.0)
    first, second = notified_group("GRP-IT-NONE-1"), notified_group("GRP-IT-NONE-2")
    reported = fresh_incident(
        "INC-IT-TWO-UNKNOWN",
        attributions=(attribution(first.group_id), attribution(second.group_id)),
    )
    message = (reported.incident_id, encode(reported))
    [(partition, offset)] = deployment.publish("incidents", [message])
    [rejection] = deployment.wait_for("rejected", lambda values: len(values) >= 1)
    assert rejection["error_code"] == "unknown_group"
    assert (rejection["source_partition"], rejection["source_offset"]) == (partition, offset)
    assert rejection["source_topic"] == deployment.topic("incidents")
    deployment.wait_for_log("parked incident given up", count=2)
    time.sleep(2)
    assert len(deployment.values("rejected")) == 1, "one answer for one message"

    deployment.register_groups(first, second)
    deployment.publish("incidents", [message])
    expected = expected_tasks(reported, first, second)
    audit = deployment.wait_for("audit", lambda values: len(values) >= len(expected))
    assert {a["task_id"] for a in audit} == {str(t.task_id) for t in expected}
    assert len(deployment.values("rejected")) == 1


def test_a_retracted_incident_does_not_raise_the_tier_of_the_next(deployment: Deployment) -> None:
    deployment.start_worker()
    group = notified_group("GRP-IT-RETRACTED")
    deployment.register_groups(group)
    now = datetime.now(UTC).replace(microsecond=0)
    withdrawn = fresh_incident("INC-IT-WITHDRAWN", group.group_id)
    deployment.publish("incidents", [(withdrawn.incident_id, encode(withdrawn))])
    deployment.wait_for(
        "audit", lambda values: len(values) >= len(expected_tasks(withdrawn, group))
    )
    withdrawal = retraction(withdrawn, "not this group's violence (invented)", now)
    deployment.publish("incidents", [(withdrawal.incident_id, encode(withdrawal))])
    deployment.wait_for(
        "completion",
        lambda values: any(
            v["incident_id"] == withdrawn.incident_id and v["progress"] == "cancelled"
            for v in values
        ),
    )
    following = fresh_incident(
        "INC-IT-FOLLOWING",
        group.group_id,
        occurred_at=now - timedelta(minutes=10),
        reported_at=now - timedelta(minutes=2),
    )
    tier_one = {str(t.task_id) for t in expected_tasks(following, group)}
    assert all(t.tier == 1 for t in expected_tasks(following, group))
    deployment.publish("incidents", [(following.incident_id, encode(following))])
    audit = deployment.wait_for(
        "audit",
        lambda values: (
            {v["task_id"] for v in values if v["incident_id"] == following.incident_id} >= tier_one
        ),
    )
    dispatched = {v["task_id"] for v in audit if v["incident_id"] == following.incident_id}
    assert dispatched == tier_one, "the retracted incident must not make this one tier 2"

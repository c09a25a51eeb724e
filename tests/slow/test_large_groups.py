"""Large and active groups: no record, message or output outgrows the broker's 1 MB limit."""

from datetime import UTC, datetime, timedelta

import pytest

from events.codec import encode
from schemas import GroupProfile
from schemas.group import GroupMember, SupervisionStatus
from tests.support.builders import attribution
from tests.support.convergence import all_expected, wait_until_dispatched
from tests.support.deployment import Deployment
from tests.support.scenario import fresh_incident, notified_group

pytestmark = pytest.mark.broker


def _group_of(group_id: str, members: int) -> GroupProfile:
    profile = notified_group(group_id)
    return profile.model_copy(
        update={
            "members": tuple(
                GroupMember(
                    person_ref=f"P-{group_id[-2:]}{n:04d}", supervision=SupervisionStatus.PROBATION
                )
                for n in range(members)
            )
        }
    )


def test_three_groups_of_200_and_fifty_incidents_of_one_group_are_all_dispatched(
    deployment: Deployment,
) -> None:
    worker = deployment.start_worker()
    big = [_group_of(f"GRP-IT-BIG-{n:02d}", 200) for n in range(3)]
    active = _group_of("GRP-IT-ACTIVE-01", 5)
    deployment.register_groups(*big, active)
    now = datetime.now(UTC).replace(microsecond=0)
    joint = fresh_incident(
        "INC-IT-BIG-JOINT", attributions=tuple(attribution(g.group_id) for g in big)
    )
    repeated = [
        fresh_incident(
            f"INC-IT-ACTIVE-{n:02d}",
            active.group_id,
            occurred_at=now - timedelta(hours=2) + timedelta(seconds=n),
            reported_at=now - timedelta(hours=1) + timedelta(seconds=n),
        )
        for n in range(50)
    ]
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in (joint, *repeated)])

    expected_joint = all_expected([joint], big)
    assert len(expected_joint) > 3000
    wait_until_dispatched(deployment, expected_joint, limit=600)
    # The tier of each repeated incident depends on which earlier ones the planner has seen
    # (they reach it through four intake partitions), so each must bring tasks; which, varies.
    audit = deployment.wait_for(
        "audit",
        lambda values: {v["incident_id"] for v in values} >= {i.incident_id for i in repeated},
        limit=600,
    )
    per_incident = {i.incident_id: 0 for i in repeated}
    for record in audit:
        if record["incident_id"] in per_incident:
            per_incident[record["incident_id"]] += 1
    assert all(count > 0 for count in per_incident.values())
    assert deployment.values("rejected") == []
    assert worker.process.poll() is None, "the worker is still running"
    assert "MessageSizeTooLarge" not in worker.log()

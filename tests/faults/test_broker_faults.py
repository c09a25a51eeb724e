"""Three Apache Kafka brokers (replication 3, min.insync.replicas 2): one is SIGKILLed mid-stream
and started again; no task is lost or doubled with other content, and completion converges."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from events.codec import encode
from schemas import IncidentReported
from tests.support.brokers import kafka_node
from tests.support.convergence import (
    all_expected,
    assert_completion_converged,
    complete_all,
    wait_until_dispatched,
)
from tests.support.deployment import Deployment
from tests.support.outside_clients import librdkafka_publish
from tests.support.scenario import fresh_incident, notified_group

pytestmark = pytest.mark.broker


def _wave(prefix: str, count: int, group_ids: list[str]) -> list[IncidentReported]:
    moment = datetime.now(UTC).replace(second=0, microsecond=0)
    return [
        fresh_incident(
            f"{prefix}-{n:02d}",
            group_ids[n % len(group_ids)],
            occurred_at=moment - timedelta(hours=1),
            reported_at=moment - timedelta(minutes=50),
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("victim", [2])
def test_a_broker_killed_and_restarted_mid_stream_loses_nothing(
    deployment: Deployment, victim: int
) -> None:
    deployment.start_worker()
    deployment.start_worker()
    deployment.wait_for_log("[^Worker]: Ready", count=2, limit=180)
    groups = [notified_group(f"GRP-IT-FAULT-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    group_ids = [g.group_id for g in groups]
    first, second, third = (
        _wave("INC-IT-FAULT-A", 6, group_ids),
        _wave("INC-IT-FAULT-B", 6, group_ids),
        _wave("INC-IT-FAULT-C", 6, group_ids),
    )

    def publish(wave: list[IncidentReported]) -> None:
        librdkafka_publish(
            deployment.bootstrap,
            deployment.topic("incidents"),
            [(i.incident_id, encode(i)) for i in wave],
        )

    publish(first)
    time.sleep(2)
    kafka_node(victim, "kill")
    publish(second)
    complete_all(deployment, all_expected(first, groups))
    time.sleep(5)
    kafka_node(victim, "start")
    publish(third)

    incidents = [*first, *second, *third]
    expected = all_expected(incidents, groups)
    wait_until_dispatched(deployment, expected)
    complete_all(deployment, all_expected([*second, *third], groups))
    counts = assert_completion_converged(deployment, incidents)
    print(f"broker fault: {len(incidents)} incidents, {len(expected)} tasks, {counts}")

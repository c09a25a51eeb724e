"""A loop of seeded SIGKILLs of two workers: no task lost, none doubled with other content, and
every incident's completion converges without ever going backwards."""

import os
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from events.codec import encode
from tests.support.convergence import (
    all_expected,
    assert_completion_converged,
    complete_all,
    wait_until_dispatched,
)
from tests.support.deployment import Deployment, WorkerProcess
from tests.support.outside_clients import librdkafka_publish
from tests.support.scenario import fresh_incident, notified_group

pytestmark = pytest.mark.broker

KILLS = int(os.environ.get("GVI_KILL_LOOP_KILLS", "10"))
SEED = int(os.environ.get("GVI_KILL_LOOP_SEED", "1123"))


def test_a_loop_of_seeded_kills_loses_nothing_and_completion_converges(
    deployment: Deployment,
) -> None:
    chance = random.Random(SEED)
    alive: list[WorkerProcess] = [deployment.start_worker(), deployment.start_worker()]
    deployment.wait_for_log("[^Worker]: Ready", count=2, limit=120)
    groups = [notified_group(f"GRP-IT-LOOP-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    incidents = []
    # One moment for every incident: each is a group's first violence (tier 1), as planned here.
    moment = datetime.now(UTC).replace(microsecond=0)
    for kill in range(KILLS):
        wave = [
            fresh_incident(
                f"INC-IT-LOOP-{kill:02d}-{n}",
                groups[chance.randrange(3)].group_id,
                occurred_at=moment - timedelta(minutes=30),
                reported_at=moment - timedelta(minutes=5),
            )
            for n in range(chance.randint(1, 3))
        ]
        incidents.extend(wave)
        librdkafka_publish(
            deployment.bootstrap,
            deployment.topic("incidents"),
            [(i.incident_id, encode(i)) for i in wave],
        )
        if kill % 3 == 1:
            complete_all(deployment, all_expected(incidents[: -len(wave)], groups))
        time.sleep(chance.uniform(0.2, 2.5))
        victim = alive.pop(chance.randrange(len(alive)))
        victim.kill()
        alive.append(deployment.start_worker())
        time.sleep(chance.uniform(0.5, 3.0))

    expected = all_expected(incidents, groups)
    wait_until_dispatched(deployment, expected)
    complete_all(deployment, expected)
    counts = assert_completion_converged(deployment, incidents)
    rejected = deployment.values("rejected")
    assert all(r["error_code"] == "invalid_transition" for r in rejected), rejected[:3]
    print(
        f"kill loop: {KILLS} kills, {len(incidents)} incidents, {len(expected)} tasks, "
        f"{counts['snapshots']} snapshots, {len(rejected)} repeated updates refused"
    )

"""`make bench`'s stages without faust on a real broker: the worker's handlers on one Kafka client
alone (aiokafka, or librdkafka behind the same calls) make every task of the scenario and write
every record a worker writes before they report."""

import asyncio
import os
from datetime import UTC, datetime

import pytest

from benchmarks.stream_layer import without_faust_catch_up
from benchmarks.throughput import _group, _incident
from benchmarks.without_faust import CLIENTS
from workers.settings import Settings

pytestmark = pytest.mark.broker

INCIDENTS = 20
ON_KAFKA = os.environ.get("GVI_TEST_BROKER", "tansu") == "kafka"


@pytest.mark.parametrize("client", CLIENTS)
def test_the_stages_without_faust_make_every_task_and_write_all_their_state(
    broker_url: str, client: str
) -> None:
    now = datetime.now(UTC)
    groups = {g.group_id: g for g in (_group(n, now) for n in range(20))}
    names = list(groups)
    queued = [_incident(n, names[n % len(names)], now) for n in range(INCIDENTS)]
    bootstrap = Settings(broker_url=broker_url).bootstrap_servers
    caught_up = without_faust_catch_up(bootstrap, groups, queued, client=client)
    figures = asyncio.run(asyncio.wait_for(caught_up, 240))
    assert figures["tasks"] == 12 * INCIDENTS, "make bench's scenario: 12 tasks per incident"
    # The groups, the incidents, one group work and one task event per incident, and the task
    # commands (one per task-table partition that gets a task: 1 to 4 per incident).
    fixed = len(groups) + 3 * INCIDENTS
    assert fixed + INCIDENTS <= figures["messages_handled"] <= fixed + 4 * INCIDENTS
    # A worker writes about 32 messages and 17 changelog records per incident (make bench).
    assert 40 * INCIDENTS <= figures["records_written"] <= 55 * INCIDENTS
    assert figures["seconds_settled"] >= figures["seconds_to_last_task"] > 0
    assert figures["tasks_per_s"] == pytest.approx(
        figures["tasks"] / figures["seconds_to_last_task"], abs=0.1
    )
    assert figures["cpu_ms_per_incident"] >= figures["main_thread_cpu_ms_per_incident"] > 0
    assert 0 < figures["seconds_to_groups_known"] < figures["seconds_to_last_task"]
    if ON_KAFKA:  # the broker's own CPU is read from its nodes' pid files
        assert figures["broker_cpu_ms_per_incident"] > 0
    else:
        assert figures["broker_cpu_ms_per_incident"] is None

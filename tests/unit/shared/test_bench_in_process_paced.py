"""The in-process harness: its paced mode hands every incident through all four stages, and
`make bench` runs it apart as the machine's reference."""

import asyncio
import gc
from datetime import UTC, datetime

import pytest

from benchmarks.in_process import measured_apart, paced, per_incident_ms
from benchmarks.throughput import _group, _incident
from events.codec import encode
from tests.support.fakes import in_process_runtime
from workers.policies import load_policy


def test_each_paced_incident_is_handled_and_measured_per_gap() -> None:
    now = datetime.now(UTC)
    groups = [_group(n, now) for n in range(2)]
    incidents = [_incident(n, groups[n % 2].group_id, now) for n in range(6)]
    outside = {
        "groups": [(g.group_id, encode(g)) for g in groups],
        "incidents": [(i.incident_id, encode(i)) for i in incidents],
    }
    runtime = in_process_runtime(load_policy())
    try:
        spent = asyncio.run(paced(runtime, outside, [0.0, 1.0], incidents=1, rounds=3))
    finally:
        gc.unfreeze()
    assert sorted(spent) == [0.0, 1.0]
    assert [len(figures) for figures in spent.values()] == [3, 3]
    assert all(ms > 0 for figures in spent.values() for ms in figures)
    kept = runtime.tables["tasks"]
    assert len(kept) == 6 * 12


def test_the_harness_apart_measures_the_machine_for_make_bench() -> None:
    spent = asyncio.run(measured_apart(20))
    assert 0.1 < spent < 1000.0
    assert per_incident_ms("20 incidents, 240 tasks: 3.82 ms of CPU per incident\n") == 3.82
    with pytest.raises(ValueError, match="no CPU per incident"):
        per_incident_ms("Traceback (most recent call last):")

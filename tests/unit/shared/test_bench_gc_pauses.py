"""The garbage collections that `make bench` reports: the worker's (from its `/metrics`), its
own process's while a floor runs, and the broker's pauses (from its collector log)."""

import gc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from benchmarks import collector_pauses
from benchmarks.collector_pauses import CollectorPauses
from benchmarks.stream_layer import pauses_between, pauses_in
from tests.support.brokers import kafka_cluster_name
from workers.stream.metrics import WorkerMetrics


def test_collections_are_counted_with_the_full_ones_and_those_of_25_ms_or_more() -> None:
    metrics = WorkerMetrics()
    pauses = metrics.gc_pause_seconds
    for generation, seconds in (("0", 0.001), ("0", 0.03), ("1", 0.004), ("2", 0.041)):
        pauses.labels(generation).observe(seconds)
    before = pauses_in(generate_latest(metrics.registry).decode())
    assert before == pytest.approx({"collections": 4, "full": 1, "over_25_ms": 2, "seconds": 0.076})
    pauses.labels("2").observe(0.02)
    after = pauses_in(generate_latest(metrics.registry).decode())
    assert pauses_between(before, after) == {
        "collections": 1,
        "full": 1,
        "over_25_ms": 0,
        "seconds": 0.02,
    }


def test_this_process_collections_are_timed_while_a_floor_runs() -> None:
    gc.disable()  # only the two collections asked for below
    try:
        with CollectorPauses() as floor:
            gc.collect()
            gc.collect(0)
        gc.collect()
    finally:
        gc.enable()
    summary = floor.summary()
    assert summary["collections"] == 2 and summary["full"] == 1
    assert 0 < summary["seconds"] < 5 and summary["longest_ms"] > 0


def test_the_brokers_pauses_are_read_from_its_collector_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / ".run" / kafka_cluster_name() / "node-1"
    node.mkdir(parents=True)
    (node / "gc.log").write_text(
        "[2026-12-06T21:00:00.100+0000] Using G1\n"
        "[2026-12-06T21:00:01.000+0000] GC(0) Pause Young (Normal) (G1 Evacuation Pause) "
        "12M->5M(258M) 5.589ms\n"
        "[2026-12-06T21:00:02.000+0000] GC(1) Concurrent Mark Cycle 98.941ms\n"
        "[2026-12-06T21:00:02.500+0000] GC(1) Pause Remark 181M->181M(307M) 31.5ms\n"
        "[2026-12-06T21:00:09.000+0000] GC(2) Pause Young (Normal) (G1 Evacuation Pause) "
        "280M->190M(322M) 16.000ms\n"
    )
    monkeypatch.setattr(collector_pauses, "KAFKA_SCRIPTS", tmp_path)
    began = datetime(2026, 12, 6, 21, 0, 0, 500000, tzinfo=UTC).timestamp()
    ended = datetime(2026, 12, 6, 21, 0, 5, tzinfo=UTC).timestamp()
    assert collector_pauses.broker_pauses(began, ended) == {
        "pauses": 2,
        "over_25_ms": 1,
        "longest_ms": 31.5,
        "total_ms": 37.1,
    }, "a concurrent cycle is no pause; a pause after the phase is not its"
    monkeypatch.setattr(collector_pauses, "KAFKA_SCRIPTS", tmp_path / "embedded")
    assert collector_pauses.broker_pauses(began, ended) is None

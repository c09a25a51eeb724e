"""The garbage collections that `make bench` reads from the worker's `/metrics`."""

import pytest
from prometheus_client import generate_latest

from benchmarks.stream_layer import pauses_between, pauses_in
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

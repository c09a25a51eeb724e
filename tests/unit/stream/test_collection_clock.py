"""Each garbage collection of the worker is timed, by generation, on `/metrics`."""

import gc

from workers.stream.metrics import CollectionClock, WorkerMetrics


def test_each_garbage_collection_is_timed_under_its_generation() -> None:
    metrics = WorkerMetrics()
    clock = CollectionClock(metrics.gc_pause_seconds)
    gc.callbacks.append(clock)
    try:
        gc.collect(0)
        gc.collect()
    finally:
        gc.callbacks.remove(clock)

    def sample(name: str, generation: str) -> float:
        value = metrics.registry.get_sample_value(name, {"generation": generation})
        assert value is not None, (name, generation)
        return value

    assert sample("gvi_gc_pause_seconds_count", "0") >= 1
    assert sample("gvi_gc_pause_seconds_count", "2") >= 1
    assert sample("gvi_gc_pause_seconds_sum", "2") > 0

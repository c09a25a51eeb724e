"""Which of the worker's topics `make bench` saw written last after the catch-up's last task."""

from benchmarks.stream_layer import last_writers


def test_only_topics_that_changed_during_the_watch_are_named_the_last_first() -> None:
    watched_at, last_task = 100.0, 99.5
    changed_at = {
        "bench.task-commands": 100.0,  # unchanged while watched: done before
        "bench.completion": 103.25,
        "bench-tasks-changelog": 101.0,
    }
    writers = last_writers(watched_at, changed_at, last_task, "bench.")
    assert list(writers) == ["completion", "bench-tasks-changelog"]
    assert writers == {"completion": 3.75, "bench-tasks-changelog": 1.5}


def test_nothing_is_named_when_every_topic_was_done_before_the_watch() -> None:
    assert last_writers(10.0, {"bench.completion": 10.0}, 9.0, "bench.") == {}

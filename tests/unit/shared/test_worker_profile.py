"""The summary of a worker's py-spy samples that `make bench --profile-worker` prints."""

from benchmarks.worker_profile import summary

RAW = "\n".join(
    [
        "main (workers/cli/main.py:1);on_group_work (workers/stream/agents/planning.py:70);"
        "view_of (workers/core/projection.py:147) 6",
        "main (workers/cli/main.py:1);on_group_work (workers/stream/agents/planning.py:70);"
        "model_copy (pydantic/main.py:410) 2",
        "ServiceThread._start_thread (mode/threads.py:9);"
        "AIOKafkaConnection._read (aiokafka/conn.py:5) 1",
        "main (workers/cli/main.py:1);select (selectors.py:468) 1",
        "a line py-spy did not finish",
    ]
)


def test_samples_are_summed_by_stage_by_library_and_by_frame() -> None:
    profile = summary(RAW, hottest=2)
    stages = dict(profile.stages)
    assert profile.samples == 10
    assert stages["planning (handler)"] == 0.8
    assert stages["consumer thread: fetch, decode records"] == 0.1, "not counted as a read"
    assert stages["aiokafka connections: read responses"] == 0.0
    assert stages["other: event loop, timers, web"] == 0.1
    assert sum(stages.values()) == 1.0
    assert dict(profile.libraries) == {
        "the pure core (workers/core, schemas)": 0.6,
        "pydantic": 0.2,
        "aiokafka": 0.1,
        "asyncio and selectors": 0.1,
    }
    assert profile.hottest == [("view_of (projection.py)", 0.6), ("model_copy (main.py)", 0.2)]
    assert "| planning (handler) | 80.0% |" in profile.lines()


THREADED = "\n".join(
    [
        "thread (101): MainThread;main (workers/cli/main.py:1);"
        "on_incident (workers/stream/agents/intake.py:40) 3",
        "thread (102): Thread-1;ServiceThread._start_thread (mode/threads.py:9);"
        "Fetcher._proc_fetch_request (aiokafka/consumer/fetcher.py:700) 1",
    ]
)


def test_samples_are_summed_by_thread_and_can_be_kept_to_one() -> None:
    everything = summary(THREADED)
    assert everything.samples == 4
    assert everything.threads == [("MainThread", 0.75), ("Thread-1", 0.25)]
    assert dict(everything.stages)["intake (handler)"] == 0.75
    assert dict(everything.hottest)["Fetcher._proc_fetch_request (fetcher.py)"] == 0.25

    main = summary(THREADED, thread="MainThread")
    assert main.samples == 3
    assert main.threads == [("MainThread", 1.0)]
    assert dict(main.stages)["consumer thread: fetch, decode records"] == 0.0
    assert main.hottest == [("on_incident (intake.py)", 1.0)]


def test_stacks_without_a_thread_are_counted_as_unnamed() -> None:
    assert summary(RAW).threads == [("unnamed", 1.0)]


def test_a_thread_whose_name_py_spy_could_not_read_is_kept_by_its_id() -> None:
    raw = THREADED + "\nthread (101);main (workers/cli/main.py:1) 1"
    assert summary(raw).threads == [("MainThread", 0.6), ("Thread-1", 0.2), ("thread (101)", 0.2)]

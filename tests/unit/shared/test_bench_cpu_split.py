"""The benchmark's CPU split: the main thread's time apart from the other threads'."""

import os
import threading
import time

from benchmarks.cpu_split import CpuTimes, cpu_times


def _spin(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_busy_thread_counts_for_the_other_threads_and_the_main_thread_for_itself() -> None:
    before = cpu_times(os.getpid())
    worker = threading.Thread(target=_spin, args=(0.3,))
    worker.start()
    worker.join()  # ended: its time stays in the process's total
    after_thread = cpu_times(os.getpid())
    _spin(0.3)
    after_main = cpu_times(os.getpid())
    by_thread, by_main = after_thread - before, after_main - after_thread
    assert by_thread.others_user + by_thread.others_kernel >= 0.25
    assert by_thread.main_user + by_thread.main_kernel < 0.1
    # (what other threads of the test process do meanwhile is theirs: not asserted)
    assert by_main.main_user + by_main.main_kernel >= 0.25


def test_the_split_per_incident_is_in_milliseconds() -> None:
    split = CpuTimes(1.0, 0.5, 0.25, 0.125) + CpuTimes(1.0, 0.5, 0.25, 0.125)
    assert split.total == 3.75
    assert split.ms_per(1000) == {
        "main_thread_user": 2.0,
        "main_thread_kernel": 1.0,
        "other_threads_user": 0.5,
        "other_threads_kernel": 0.25,
    }

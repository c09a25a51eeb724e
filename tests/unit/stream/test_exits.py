"""A process that decided to stop is gone within its grace period, even with its loop blocked."""

import subprocess
import sys
import time

PROGRAM = """
import time
from workers.stream.exits import exit_within
assert exit_within(0.5, 3, "test")
assert not exit_within(0.1, 4, "a second call does not re-arm")
time.sleep(60)  # a stop that hangs
"""


def test_a_hanging_stop_ends_with_the_status_given_after_the_grace_period() -> None:
    started = time.monotonic()
    finished = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, timeout=30)
    elapsed = time.monotonic() - started
    assert finished.returncode == 3, finished.stderr.decode()
    assert elapsed < 20
    assert b"worker did not stop in time" in finished.stdout + finished.stderr

"""Exits that exit: once a worker decides to stop, it is gone within a grace period."""

import os
import sys
import threading
from typing import Any

import structlog

log = structlog.get_logger("gvi.exit")
SHUTDOWN_GRACE_SECONDS = 15.0
"""How long a stopping worker may take: a graceful stop takes about a second."""
_armed = threading.Lock()


def exit_within(seconds: float, status: int, reason: str) -> bool:
    """End the process with `status` after `seconds` unless it has exited by then.

    faust's stop waits for every agent to finish its event ("Wait for streams…"); an agent
    that waits forever for the broker would hold the process, and its partitions, forever.
    A daemon thread does not depend on the event loop, so it fires even when the loop is
    blocked. Only the first call arms it; returns whether this one did.
    """
    if not _armed.acquire(blocking=False):
        return False

    def hard_exit() -> None:
        threading.Event().wait(seconds)
        log.error("worker did not stop in time; exiting", reason=reason, seconds=seconds)
        sys.stderr.flush()
        os._exit(status)

    threading.Thread(target=hard_exit, name="gvi-bounded-exit", daemon=True).start()
    return True


async def crash_within(
    app: Any, error: BaseException, seconds: float = SHUTDOWN_GRACE_SECONDS
) -> None:
    """Crash the app (its supervisor restarts it) and make sure the process is gone soon."""
    exit_within(seconds, 1, f"{type(error).__name__}: {error}")
    await app.crash(error)

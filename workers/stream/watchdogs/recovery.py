"""Recovery watchdog: a table recovery that receives nothing for too long forces a rebalance."""

from dataclasses import dataclass
from time import monotonic
from typing import Any

import structlog

from workers.faust_fixes.internals import force_rebalance, recovery_times
from workers.stream.exits import crash_within
from workers.stream.watchdogs.diagnostics import (
    evidence,
    fetch_state,
    recovery_state,
    run_every,
)

log = structlog.get_logger("gvi.recovery")


class RecoveryStalled(RuntimeError):
    """Table recovery made no progress through several forced rebalances."""


@dataclass(frozen=True)
class RecoveryProgress:
    """What faust's recovery service reports at one moment (monotonic seconds)."""

    in_recovery: bool
    remaining: int
    started_at: float | None
    last_event_at: float | None


def stalled_for(progress: RecoveryProgress, now: float) -> float:
    """Seconds since the recovery last made progress; 0 when it is not waiting for anything."""
    if not progress.in_recovery or progress.remaining <= 0 or progress.started_at is None:
        return 0.0
    last = max(progress.started_at, progress.last_event_at or progress.started_at)
    return max(0.0, now - last)


@dataclass
class RebalanceBudget:
    """Decides, for a stall of some length, whether to force a rebalance or to give up.

    Forced rebalances are at least ``limit`` apart; after ``attempts`` of them without progress
    the worker gives up, so that its supervisor restarts it. A stall of 0 resets the count.
    """

    limit: float
    attempts: int = 3
    forced: int = 0
    last_forced_at: float | None = None

    def decide(self, stalled: float, now: float) -> str | None:
        """`None`, `"rebalance"` or `"give up"`."""
        if stalled == 0.0:
            self.forced = 0
        if stalled < self.limit:
            return None
        if self.last_forced_at is not None and now - self.last_forced_at < self.limit:
            return None
        self.last_forced_at = now
        if self.forced >= self.attempts:
            return "give up"
        self.forced += 1
        return "rebalance"


@dataclass
class RecoveryWatchdog(RebalanceBudget):
    """A recovery that still has changelog messages to read but has received none for ``limit``
    seconds is stuck (docs/streams.md, "Recovery watchdog"): a rebalance restarts it from the
    committed offsets, which loses nothing."""

    def check(self, progress: RecoveryProgress, now: float) -> str | None:
        """`None`, `"rebalance"` or `"give up"`."""
        return self.decide(stalled_for(progress, now), now)


def read_progress(app: Any) -> RecoveryProgress:
    """The recovery state of a running faust app."""
    recovery = app.tables.recovery
    started_at, received = recovery_times(recovery)
    return RecoveryProgress(
        in_recovery=bool(recovery.in_recovery),
        remaining=int(recovery.active_remaining_total()) if recovery.in_recovery else 0,
        started_at=started_at,
        last_event_at=max(received) if received else None,
    )


def register(app: Any, limit: float) -> RecoveryWatchdog:
    """Check the app's recovery every few seconds, from its start; act when it is stuck."""
    watchdog = RecoveryWatchdog(limit=limit)
    run_every(app, max(1.0, min(5.0, limit / 3)), lambda: _check(app, watchdog), "recovery")
    return watchdog


async def _check(app: Any, watchdog: RecoveryWatchdog) -> None:
    progress = read_progress(app)
    now = monotonic()
    action = watchdog.check(progress, now)
    if action is None:
        return
    log.error(
        "table recovery stalled",
        action=action,
        stalled_seconds=round(stalled_for(progress, now), 1),
        remaining=progress.remaining,
        forced_rebalances=watchdog.forced,
        changelogs=fetch_state(app, app.tables.recovery.active_tps),
        recovery=recovery_state(app),
        **evidence(app),
    )
    if action == "rebalance":
        force_rebalance(app)
    else:
        reason = f"no recovery progress through {watchdog.forced} forced rebalances"
        await crash_within(app, RecoveryStalled(reason))

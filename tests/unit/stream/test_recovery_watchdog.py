"""The recovery watchdog acts only on a stuck recovery, rate-limited, and then gives up."""

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from workers.stream.watchdogs.diagnostics import describe_tasks, recovery_state
from workers.stream.watchdogs.recovery import RecoveryProgress, RecoveryWatchdog, stalled_for

LIMIT = 30.0


def _recovering(started_at: float, last_event_at: float | None = None) -> RecoveryProgress:
    return RecoveryProgress(
        in_recovery=True, remaining=5, started_at=started_at, last_event_at=last_event_at
    )


IDLE = RecoveryProgress(in_recovery=False, remaining=0, started_at=None, last_event_at=None)


def test_a_recovery_that_receives_nothing_is_stalled_since_its_start() -> None:
    assert stalled_for(_recovering(started_at=100.0), now=145.0) == 45.0


def test_the_last_event_counts_as_progress() -> None:
    assert stalled_for(_recovering(started_at=100.0, last_event_at=140.0), now=145.0) == 5.0


def test_nothing_to_read_or_no_recovery_is_never_stalled() -> None:
    done = RecoveryProgress(in_recovery=True, remaining=0, started_at=0.0, last_event_at=None)
    assert stalled_for(done, now=1_000.0) == 0.0
    assert stalled_for(IDLE, now=1_000.0) == 0.0


def test_a_slow_but_moving_recovery_is_left_alone() -> None:
    watchdog = RecoveryWatchdog(limit=LIMIT)
    for now in range(0, 600, 5):
        assert watchdog.check(_recovering(started_at=0.0, last_event_at=now - 29.0), now) is None


def test_rebalances_are_a_limit_apart_then_the_worker_gives_up() -> None:
    watchdog = RecoveryWatchdog(limit=LIMIT, attempts=3)
    actions = {
        now: watchdog.check(_recovering(started_at=0.0), float(now)) for now in range(0, 200, 5)
    }
    forced = [now for now, action in actions.items() if action == "rebalance"]
    assert forced == [30, 60, 90]
    assert actions[120] == "give up"
    assert all(action is None for now, action in actions.items() if now < 30)


def test_a_completed_recovery_resets_the_attempts() -> None:
    watchdog = RecoveryWatchdog(limit=LIMIT, attempts=1)
    assert watchdog.check(_recovering(started_at=0.0), 30.0) == "rebalance"
    assert watchdog.check(IDLE, 40.0) is None
    assert watchdog.check(_recovering(started_at=50.0), 80.0) == "rebalance"


@given(
    limit=st.floats(min_value=5, max_value=600),
    checks=st.lists(
        st.tuples(st.floats(min_value=0, max_value=50), st.booleans()), min_size=1, max_size=60
    ),
)
def test_never_acts_before_the_limit_nor_twice_within_it(
    limit: float, checks: list[tuple[float, bool]]
) -> None:
    watchdog = RecoveryWatchdog(limit=limit)
    now, last_event, acted_at = 0.0, 0.0, -1e9
    for step, received in checks:
        now += step
        if received:
            last_event = now
        progress = _recovering(started_at=0.0, last_event_at=last_event)
        action = watchdog.check(progress, now)
        if action is not None:
            assert stalled_for(progress, now) >= limit
            assert now - acted_at >= limit
            acted_at = now


def test_describes_the_awaited_chain_of_each_task() -> None:
    async def inner() -> None:
        await asyncio.sleep(10)

    async def outer() -> None:
        await inner()

    async def scenario() -> list[str]:
        task = asyncio.create_task(outer())
        await asyncio.sleep(0)
        chains = describe_tasks(asyncio.get_running_loop())
        task.cancel()
        return chains

    chains = asyncio.run(scenario())
    assert any("outer" in chain and "inner" in chain and "sleep" in chain for chain in chains)


@dataclass(frozen=True)
class _Table:
    name: str


def _app_in_recovery(applied: dict[TP, int], highwaters: dict[TP, int]) -> Any:
    recovery = SimpleNamespace(
        active_tps=set(highwaters),
        active_offsets=applied,
        active_highwaters=highwaters,
        buffers={_Table("tasks"): [object(), object()]},
        signal_recovery_start=asyncio.Event(),
    )
    tables = SimpleNamespace(recovery=recovery, changelog_queue=asyncio.Queue())
    return SimpleNamespace(tables=tables, consumer=SimpleNamespace(flow_active=True))


def test_the_recovery_record_names_only_the_partitions_still_behind() -> None:
    behind, caught_up = TP("app-tasks-changelog", 0), TP("app-tasks-changelog", 1)
    app = _app_in_recovery({behind: 10, caught_up: 7}, {behind: 95, caught_up: 7})
    state = recovery_state(app)
    assert state["behind"] == {"app-tasks-changelog/0": {"applied": 10, "highwater": 95}}
    assert state["buffered_events"] == {"tasks": 2}
    assert (state["changelog_queue"], state["flow_active"]) == (0, True)


def test_a_state_report_that_fails_says_so_instead_of_failing_the_watchdog() -> None:
    assert recovery_state(SimpleNamespace()) == {
        "unavailable": "AttributeError: 'types.SimpleNamespace' object has no attribute 'tables'"
    }

"""The watchdogs' runner: a failing check only logs, one that meets a missing name crashes."""

import asyncio
from typing import Any

import pytest

from workers.stream import exits
from workers.stream.watchdogs import diagnostics


class _App:
    """What `run_every` uses of a faust app: sleep, should_stop, background, crash."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.crashed: list[BaseException] = []
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def should_stop(self) -> bool:
        return self.rounds <= 0 or bool(self.crashed)

    async def sleep(self, seconds: float) -> None:
        self.rounds -= 1

    def background(self, watch: Any) -> None:
        self.tasks.append(asyncio.ensure_future(watch()))

    async def crash(self, error: BaseException) -> None:
        self.crashed.append(error)


@pytest.fixture(autouse=True)
def _no_hard_exit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hard_exits: list[str] = []
    monkeypatch.setattr(
        exits, "exit_within", lambda seconds, status, reason: hard_exits.append(reason)
    )
    return hard_exits


async def test_a_check_that_fails_for_a_missing_name_crashes_the_worker_loudly() -> None:
    app = _App(rounds=5)
    calls = 0

    async def check() -> None:
        nonlocal calls
        calls += 1
        raise AttributeError("'Recovery' object has no attribute '_recovery_started_at'")

    diagnostics.run_every(app, 1.0, check, "recovery")
    await asyncio.gather(*app.tasks)
    assert calls == 1
    assert len(app.crashed) == 1
    assert isinstance(app.crashed[0], diagnostics.WatchdogBroken)
    assert "_recovery_started_at" in str(app.crashed[0])


async def test_a_check_that_fails_otherwise_only_logs_and_runs_again() -> None:
    app = _App(rounds=3)
    calls = 0

    async def check() -> None:
        nonlocal calls
        calls += 1
        raise TimeoutError("the broker did not answer ListOffsets")

    diagnostics.run_every(app, 1.0, check, "partitions")
    await asyncio.gather(*app.tasks)
    assert calls == 3
    assert app.crashed == []

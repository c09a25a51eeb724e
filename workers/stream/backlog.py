"""Later stages first: an agent waits before its next batch while a later stage of the incident's
path lags far behind, so that the worker's state keeps up with the tasks it sends."""

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field

PIPELINE = ("incident-intake", "group-planning", "task-state", "completion")
"""The stages an incident passes through, in order; each feeds the ones after it."""
LOOK_EVERY_SECONDS = 0.05
"""How long a look at the later stages' lags holds before a batch: a look reads every assigned
partition (about 100 with the default catalogue), and looking before every batch took about 2 %
of the worker's CPU at 100 incidents/s. A stage that waits looks again after every batch."""


def lag_of(
    topics: Iterable[str],
    assigned: Iterable[tuple[str, int]],
    last_handled: Mapping[tuple[str, int], tuple[int, int]],
    highwater: Callable[[tuple[str, int]], int | None],
    revoked: Container[tuple[str, int]] = frozenset(),
    written_from: Callable[[tuple[str, int]], int | None] = lambda partition: None,
) -> int:
    """Messages on `topics`' assigned partitions after the last one handled there. A partition
    with nothing handled since the start counts the messages this worker wrote there from the
    first offset it wrote at (`written_from`; none if it wrote none): a stage that had handled
    nothing there yet looked level while its commands piled up (docs/benchmarks.md, run 19).
    One `revoked` since its last handled message, or whose highwater is unknown, counts none."""
    wanted = set(topics)
    lag = 0
    for partition in assigned:
        if partition[0] not in wanted or (partition[0], partition[1]) in revoked:
            continue
        run = last_handled.get((partition[0], partition[1]))
        after = run[1] + 1 if run is not None else written_from(partition)
        if after is None:
            continue
        end = highwater(partition)
        if end is not None:
            lag += max(0, end - after)
    return lag


@dataclass
class HeldPartitions:
    """The partitions this worker holds, by topic: read from the consumer at most once every
    `max_age` seconds and again after a rebalance (`forget`). Each stage's look read the whole
    assignment, which faust converts partition by partition (about 100): the four stages'
    looks after every batch of a catch-up took about 4 % of the main thread
    (docs/benchmarks.md, run 28). A partition listed but no longer held counts nothing (its
    highwater is gone, `stage_lag`) and one newly held counts from the next read: the lags
    pace the stages, they decide nothing else."""

    read: Callable[[], Iterable[tuple[str, int]]]
    max_age: float = 1.0
    _read_at: float = -math.inf
    _by_topic: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def of(self, topics: Iterable[str]) -> list[tuple[str, int]]:
        now = time.monotonic()
        if now - self._read_at > self.max_age:
            by_topic: dict[str, list[tuple[str, int]]] = {}
            for partition in self.read():
                by_topic.setdefault(partition[0], []).append(partition)
            self._by_topic, self._read_at = by_topic, now
        return [partition for topic in topics for partition in self._by_topic.get(topic, ())]

    def forget(self) -> None:
        self._read_at = -math.inf


@dataclass
class Backlogs:
    """The lag of each stage of `PIPELINE` in this worker.

    Without it a catch-up let intake and planning run far ahead: the consumer fetched their
    topics first, and the task agent's commands waited on the broker, so the task records
    came seconds after the last task (docs/benchmarks.md). An earlier stage waits at most
    `most_seconds` per batch: a later stage that stalls slows the earlier ones, never stops
    them."""

    limit: int
    """Messages a later stage may lag behind before an earlier one waits (0: never waits)."""
    most_seconds: float = 1.0
    lags: dict[str, Callable[[], int]] = field(default_factory=dict)
    moved: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a stage finished a batch: the waiting stages look at the lags again."""
    _looked: tuple[float, dict[str, int]] = (-1.0, {})

    def register(self, agent: str, lag: Callable[[], int]) -> None:
        """Measure `agent`'s lag with `lag` (only the stages of `PIPELINE` count)."""
        if agent in PIPELINE:
            self.lags[agent] = lag

    def batch_done(self) -> None:
        self.moved.set()

    def current_lags(self, fresh: bool = False) -> dict[str, int]:
        """Each registered stage's lag, looked at again after `LOOK_EVERY_SECONDS`."""
        now = time.monotonic()
        if fresh or now - self._looked[0] > LOOK_EVERY_SECONDS:
            self._looked = (now, {stage: lag() for stage, lag in self.lags.items()})
        return self._looked[1]

    def busiest_later(self, agent: str, fresh: bool = False) -> tuple[str, int] | None:
        """The later stage that lags most beyond the limit, and its lag."""
        if self.limit <= 0 or agent not in PIPELINE:
            return None
        later = PIPELINE[PIPELINE.index(agent) + 1 :]
        lags = self.current_lags(fresh)
        over = [(stage, lags[stage]) for stage in later if lags.get(stage, 0) > self.limit]
        return max(over, key=lambda item: item[1]) if over else None

    async def later_stages_first(self, agent: str) -> float:
        """Wait while a later stage lags beyond the limit (at most `most_seconds`); returns
        the seconds waited."""
        if self.busiest_later(agent) is None:
            return 0.0
        started = time.monotonic()
        deadline = started + self.most_seconds
        while self.busiest_later(agent, fresh=True) is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.moved.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self.moved.wait()
        return time.monotonic() - started

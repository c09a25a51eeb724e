"""When the deadline timer may skip its pass over the task table: nothing can be due yet."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from workers.stream.stores import attention_at, not_yet_sent


@dataclass
class Pass:
    """One pass of the timer over the task table, and what it learnt: the earliest moment any
    record it read may need the timer, and whether one of this worker's waits to be sent."""

    epoch: int
    share: float | None
    trusted: bool
    owned: Callable[[str], bool]
    next_due: float = math.inf
    unsent: bool = False

    def saw(self, key: str, stored: bytes, candidate: bool) -> None:
        """A record the pass read. A candidate (its bytes passed a filter) is left to `due_at`,
        with the moment the core gives it once parsed; a record of another worker's partition
        never waits to be sent here."""
        if not candidate:
            self.next_due = min(self.next_due, attention_at(stored, self.share))
        self.unsent = self.unsent or (not_yet_sent(stored) and self.owned(key))

    def due_at(self, moment: float) -> None:
        """A moment the timer may have to act at (a candidate's, or a write's)."""
        self.next_due = min(self.next_due, moment)


@dataclass
class DueWatch:
    """The earliest moment at which any task in this worker's table may need the deadline
    timer, kept by its last full pass and moved earlier by every task write since.

    At 60,000 open tasks a pass takes about half a second of CPU every 30 s, and every step of
    an incident in flight waits behind its slices. While no task can be past its deadline or
    its reminder point, and none waits to be sent, the pass finds nothing: it is skipped. A
    pass is trusted only when it ran on recovered tables; a rebalance (a new consumer
    generation, or faust's signal that the tables are recovered: `invalidate`), a change of the
    earliest reminder share, or a record kept as created makes the next tick pass again.
    """

    next_due: float = -math.inf
    unsent: bool = True
    share: float | None = None
    generation: int | None = None
    """The consumer generation whose tables the last pass read."""
    epoch: int = 0
    passing: list[Pass] = field(default_factory=list)

    def nothing_due(self, now: float, share: float | None, generation: int | None = None) -> bool:
        if share != self.share or generation != self.generation:
            return False
        return not self.unsent and now < self.next_due

    def generation_is(self, generation: int | None) -> None:
        """The consumer generation now: a new one invalidates what the last passes learnt."""
        if generation != self.generation:
            self.generation = generation
            self.invalidate()

    def begin(self, share: float | None, trusted: bool, owned: Callable[[str], bool]) -> Pass:
        started = Pass(self.epoch, share, trusted, owned)
        self.passing.append(started)
        return started

    def end(self, finished: Pass) -> None:
        """Keep what a pass learnt, with every write made while it ran (`written`), unless the
        tables were recovered meanwhile or the pass ran before they were."""
        self.passing.remove(finished)
        if finished.trusted and finished.epoch == self.epoch:
            self.next_due, self.unsent = finished.next_due, finished.unsent
            self.share = finished.share

    def abandon(self, failed: Pass) -> None:
        """A pass that did not finish teaches nothing: the next tick passes again."""
        self.passing.remove(failed)
        self.next_due = -math.inf

    def written(self, stored: bytes | None) -> None:
        """A task record the worker wrote (None: removed)."""
        if not stored:
            return
        moment, unsent = attention_at(stored, self.share), not_yet_sent(stored)
        for running in self.passing:
            running.due_at(attention_at(stored, running.share))
            running.unsent = running.unsent or unsent
        self.next_due = min(self.next_due, moment)
        self.unsent = self.unsent or unsent

    def invalidate(self) -> None:
        """The tables were recovered (a rebalance): records came in without a write here."""
        self.epoch += 1
        self.next_due, self.unsent = -math.inf, True

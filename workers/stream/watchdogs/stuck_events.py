"""Stuck batches: an agent holding one batch too long is logged; twice as long stops the worker."""

import itertools
from dataclasses import dataclass
from time import monotonic
from typing import Any

import structlog
from faust.types import EventT

from workers.stream.exits import crash_within
from workers.stream.watchdogs.diagnostics import evidence, run_every

log = structlog.get_logger("gvi.stuck")


class AgentStuck(RuntimeError):
    """An agent held one batch for twice the stuck-event limit."""


@dataclass(frozen=True)
class InFlight:
    """One batch an agent is working on, since `since` (monotonic seconds), named by its first
    event."""

    since: float
    agent: str
    topic: str
    partition: int
    offset: int


class BatchesInFlight:
    """The batches that agents are handling or flushing right now (the batch runner tells)."""

    def __init__(self) -> None:
        self.in_flight: dict[int, InFlight] = {}
        self.reported: set[int] = set()
        self._tokens = itertools.count()

    def started(self, agent: str, first: EventT[Any]) -> int:
        token, message = next(self._tokens), first.message
        self.in_flight[token] = InFlight(
            monotonic(), agent, message.topic, message.partition, message.offset
        )
        return token

    def finished(self, token: int) -> None:
        self.in_flight.pop(token, None)
        self.reported.discard(token)

    def oldest(self) -> InFlight | None:
        return min(self.in_flight.values(), key=lambda batch: batch.since, default=None)

    def newly_stuck(self, now: float, limit: float) -> list[InFlight]:
        """Batches held at least `limit` seconds that were not reported yet."""
        stuck = []
        for key, batch in list(self.in_flight.items()):
            if now - batch.since >= limit and key not in self.reported:
                self.reported.add(key)
                stuck.append(batch)
        return stuck


@dataclass
class StuckEventWatch:
    """Logs, once per batch, an agent that has held a batch for `limit` seconds.

    At twice `limit` the worker crashes (exit status 1), so that its supervisor restarts it: the
    batch's offsets were not committed, so the restarted worker, or another, reads them again.
    """

    app: Any
    limit: float
    batches: BatchesInFlight

    async def check(self) -> None:
        now = monotonic()
        oldest = self.batches.oldest()
        if oldest is not None and now - oldest.since >= 2 * self.limit:
            held = f"{oldest.agent}: {oldest.topic}/{oldest.partition}@{oldest.offset}"
            log.error("agent stuck too long; stopping the worker", held=held)
            stuck = AgentStuck(f"{held} held for {now - oldest.since:.0f} s")
            await crash_within(self.app, stuck)
            return
        for batch in self.batches.newly_stuck(now, self.limit):
            log.error(
                "agent stuck on a batch",
                agent=batch.agent,
                topic=batch.topic,
                partition=batch.partition,
                offset=batch.offset,
                seconds=round(now - batch.since, 1),
                **evidence(self.app),
            )


def register(app: Any, limit: float, batches: BatchesInFlight) -> StuckEventWatch:
    """Watch the app's agents from its start: log a stuck batch, crash if it stays stuck."""
    watch = StuckEventWatch(app=app, limit=limit, batches=batches)
    run_every(app, max(1.0, min(5.0, limit / 3)), watch.check, "stuck events")
    return watch

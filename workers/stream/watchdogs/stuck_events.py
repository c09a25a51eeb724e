"""Stuck events: an agent holding one event too long is logged; twice as long stops the worker."""

from dataclasses import dataclass, field
from time import monotonic
from typing import Any

import faust
import structlog
from faust.types import TP, EventT, StreamT

from workers.stream.exits import crash_within
from workers.stream.watchdogs.diagnostics import evidence, run_every

log = structlog.get_logger("gvi.stuck")


class AgentStuck(RuntimeError):
    """An agent held one event for twice the stuck-event limit."""


@dataclass(frozen=True)
class InFlight:
    """One event an agent is working on, since `since` (monotonic seconds)."""

    since: float
    topic: str
    partition: int
    offset: int


class InFlightEvents(faust.Sensor):
    """Tracks the events that agents are processing right now."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight: dict[int, InFlight] = {}
        self.reported: set[int] = set()

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        self.in_flight[id(event)] = InFlight(monotonic(), tp.topic, tp.partition, offset)
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        self.in_flight.pop(id(event), None)
        self.reported.discard(id(event))

    def oldest(self) -> InFlight | None:
        return min(self.in_flight.values(), key=lambda event: event.since, default=None)

    def newly_stuck(self, now: float, limit: float) -> list[InFlight]:
        """Events held at least `limit` seconds that were not reported yet."""
        stuck = []
        for key, event in list(self.in_flight.items()):
            if now - event.since >= limit and key not in self.reported:
                self.reported.add(key)
                stuck.append(event)
        return stuck


@dataclass
class StuckEventWatch:
    """Logs, once per event, an agent that has held an event for `limit` seconds.

    At twice `limit` the worker crashes (exit status 1), so that its supervisor restarts it: the
    event's offset was not committed, so the restarted worker, or another, reads it again.
    """

    app: Any
    limit: float
    sensor: InFlightEvents = field(default_factory=InFlightEvents)

    async def check(self) -> None:
        now = monotonic()
        oldest = self.sensor.oldest()
        if oldest is not None and now - oldest.since >= 2 * self.limit:
            held = f"{oldest.topic}/{oldest.partition}@{oldest.offset}"
            log.error("agent stuck too long; stopping the worker", held=held)
            stuck = AgentStuck(f"{held} held for {now - oldest.since:.0f} s")
            await crash_within(self.app, stuck)
            return
        for event in self.sensor.newly_stuck(now, self.limit):
            log.error(
                "agent stuck on an event",
                topic=event.topic,
                partition=event.partition,
                offset=event.offset,
                seconds=round(now - event.since, 1),
                **evidence(self.app),
            )


def register(app: Any, limit: float) -> StuckEventWatch:
    """Watch the app's agents from its start: log a stuck event, crash if it stays stuck."""
    watch = StuckEventWatch(app=app, limit=limit)
    app.sensors.add(watch.sensor)
    run_every(app, max(1.0, min(5.0, limit / 3)), watch.check, "stuck events")
    return watch

"""An event that an agent holds too long is reported once; finished events are forgotten."""

from time import monotonic
from typing import Any

from faust.types import TP

from workers.stream.watchdogs.stuck_events import InFlightEvents

TP0 = TP("gvi.internal.task-commands", 0)


def test_reports_a_held_event_once_and_forgets_it_when_done() -> None:
    sensor = InFlightEvents()
    held: Any = object()
    quick: Any = object()
    stream: Any = None
    sensor.on_stream_event_in(TP0, 7, stream, held)
    sensor.on_stream_event_in(TP0, 8, stream, quick)
    sensor.on_stream_event_out(TP0, 8, stream, quick)
    later = monotonic() + 61

    stuck = sensor.newly_stuck(later, limit=60)

    assert [(event.topic, event.partition, event.offset) for event in stuck] == [(TP0.topic, 0, 7)]
    assert sensor.newly_stuck(later + 60, limit=60) == []
    sensor.on_stream_event_out(TP0, 7, stream, held)
    assert sensor.in_flight == {} and sensor.reported == set()


def test_an_event_under_the_limit_is_not_stuck() -> None:
    sensor = InFlightEvents()
    event: Any = object()
    sensor.on_stream_event_in(TP0, 1, None, event)  # type: ignore[arg-type]
    assert sensor.newly_stuck(monotonic() + 59, limit=60) == []


def test_the_oldest_held_event_is_the_one_to_judge() -> None:
    sensor = InFlightEvents()
    first: Any = object()
    second: Any = object()
    sensor.on_stream_event_in(TP0, 3, None, first)  # type: ignore[arg-type]
    sensor.on_stream_event_in(TP0, 4, None, second)  # type: ignore[arg-type]
    oldest = sensor.oldest()
    assert oldest is not None and oldest.offset == 3
    sensor.on_stream_event_out(TP0, 3, None, first)  # type: ignore[arg-type]
    assert sensor.oldest() is not None and sensor.oldest().offset == 4  # type: ignore[union-attr]
    sensor.on_stream_event_out(TP0, 4, None, second)  # type: ignore[arg-type]
    assert sensor.oldest() is None

"""Commits only over processed messages whose state is written; resuming keeps work; the
producer forgets no topic."""

import asyncio
from pathlib import Path
from types import SimpleNamespace

from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st
from mode.utils.queues import FlowControlQueue

from workers.faust_fixes.rebalance_safety import (
    AssignedOnlyFlowControl,
    _NoReadOffsets,
    committable_offset,
    records_to_put_back,
)
from workers.faust_fixes.topic_tracking_producer import TopicTrackingProducer
from workers.settings import Settings
from workers.stream.app import create_app

OWN = TP("gvi.incidents", 0)
REVOKED = TP("gvi.incidents", 1)


def _commit(acked: list[int], start: int | None) -> int | None:
    return committable_offset(acked, set(acked), start)


def test_commits_the_unbroken_run_from_the_start() -> None:
    assert _commit([3, 1, 2, 0], start=0) == 4


def test_never_commits_over_an_unprocessed_first_offset() -> None:
    # faust's own rule (`min(acked) - committed > 1`) would commit 6 here and lose offset 0.
    assert _commit([1, 2, 3, 4, 5], start=0) is None
    assert _commit([11, 12], start=10) is None


def test_never_commits_without_a_known_start() -> None:
    assert _commit([0, 1, 2], start=None) is None


def test_stops_at_the_first_hole_and_keeps_the_rest() -> None:
    acked = [4, 5, 7, 8]
    index = set(acked)
    assert committable_offset(acked, index, start=4) == 6
    assert acked == [7, 8]
    assert index == {7, 8}
    assert committable_offset(acked, index, start=6) is None
    assert acked == [7, 8]


def test_offsets_below_the_start_are_discarded() -> None:
    acked = [1, 2, 9, 10]
    index = set(acked)
    assert committable_offset(acked, index, start=9) == 11
    assert acked == []
    assert index == set()


@given(
    processed=st.sets(st.integers(min_value=0, max_value=60), max_size=40),
    start=st.integers(min_value=0, max_value=30),
)
def test_every_committed_offset_was_processed(processed: set[int], start: int) -> None:
    acked = list(processed)
    committed = committable_offset(acked, set(acked), start)
    if committed is None:
        assert start not in processed
    else:
        assert committed > start
        assert set(range(start, committed)) <= processed
        assert committed not in processed


def test_read_offsets_are_never_remembered() -> None:
    offsets = _NoReadOffsets()
    offsets[OWN] = 41
    offsets.update({OWN: 42})
    assert offsets[OWN] is None
    assert offsets.pop(OWN, None) is None


def _event(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def test_resuming_flow_keeps_queued_events_of_assigned_partitions() -> None:
    async def scenario() -> list[int]:
        flow_control = AssignedOnlyFlowControl(lambda: {OWN})
        queue: FlowControlQueue[SimpleNamespace] = FlowControlQueue(
            flow_control=flow_control, clear_on_resume=True
        )
        for event in (_event(OWN, 7), _event(REVOKED, 3), _event(OWN, 8)):
            queue.put_nowait(event)
        flow_control.suspend()
        flow_control.resume()
        return [queue.get_nowait().message.offset for _ in range(queue.qsize())]

    assert asyncio.run(scenario()) == [7, 8]


def test_revocation_still_clears_every_queue() -> None:
    async def scenario() -> int:
        flow_control = AssignedOnlyFlowControl(lambda: {OWN})
        queue: FlowControlQueue[SimpleNamespace] = FlowControlQueue(
            flow_control=flow_control, clear_on_resume=True
        )
        queue.put_nowait(_event(OWN, 7))
        flow_control.clear()
        return queue.qsize()

    assert asyncio.run(scenario()) == 0


def test_the_app_produces_through_the_topic_tracking_producer(tmp_path: Path) -> None:
    settings = Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path)
    app, _runtime = create_app(settings)
    assert app.producer._producer_type is TopicTrackingProducer


CHANGELOG = TP("app-tasks-changelog", 2)
STREAM = TP("gvi.incidents", 2)


def _fetched(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=offset) for offset in offsets]


def test_dropped_changelog_records_are_read_again_from_the_first() -> None:
    fetched = {CHANGELOG: _fetched(40, 41, 43), STREAM: _fetched(7, 8)}
    rewinds = records_to_put_back(fetched, {CHANGELOG.topic}, {CHANGELOG: 3}, {CHANGELOG: 3})
    assert rewinds == {CHANGELOG: 40}


def test_a_seek_since_the_fetch_decides_instead() -> None:
    fetched = {CHANGELOG: _fetched(40, 41)}
    assert records_to_put_back(fetched, {CHANGELOG.topic}, {CHANGELOG: 4}, {CHANGELOG: 3}) == {}
    assert records_to_put_back(fetched, {CHANGELOG.topic}, {CHANGELOG: 3}, {}) == {}


def test_stream_partitions_and_empty_fetches_are_left_to_the_committed_seek() -> None:
    fetched = {STREAM: _fetched(7), CHANGELOG: []}
    assert records_to_put_back(fetched, {CHANGELOG.topic}, {}, {STREAM: 0, CHANGELOG: 0}) == {}

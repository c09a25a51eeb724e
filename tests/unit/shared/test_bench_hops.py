"""Where `make bench` finds an incident's latency went: intake's hand-off, then planning."""

import pytest

from benchmarks.stream_layer import hops


def test_each_hop_is_split_at_the_hand_off_and_the_slowest_incident_is_named() -> None:
    sent = {"a": 10.0, "b": 11.0, "c": 12.0}
    handed = {"a": 10.004, "b": 11.006, "c": 12.090}
    done = {"a": 10.014, "b": 11.016, "c": 12.100}
    found = hops(sent, handed, done)
    assert found["to_planning_p50_ms"] == pytest.approx(6.0)
    assert found["planning_p50_ms"] == pytest.approx(10.0)
    assert found["slowest_to_planning_ms"] == pytest.approx(90.0)
    assert found["slowest_planning_ms"] == pytest.approx(10.0)


def test_an_incident_without_a_hand_off_is_left_out() -> None:
    assert hops({"a": 1.0}, {}, {"a": 1.5}) == {}

"""The benchmark's percentiles: nearest rank, so p99 of 100 latencies is not their maximum."""

from benchmarks.stream_layer import percentile


def test_p99_of_a_hundred_values_is_the_ninety_ninth_smallest() -> None:
    values = [float(n) for n in range(100, 0, -1)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 1.0) == 100.0


def test_p99_of_a_thousand_values_leaves_ten_above_it() -> None:
    values = [float(n) for n in range(1, 1001)]
    assert percentile(values, 0.99) == 990.0
    assert sum(value > percentile(values, 0.99) for value in values) == 10


def test_a_share_that_falls_between_ranks_takes_the_rank_above() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0], 0.99) == 3.0
    assert percentile([7.0], 0.99) == 7.0


def test_a_share_whose_product_is_a_whole_rank_in_decimals_is_that_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.07) == 7.0

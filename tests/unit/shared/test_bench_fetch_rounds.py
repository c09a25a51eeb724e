"""How `make bench-fetch` turns an idle worker's CPU at two fetch waits into a round's cost."""

import pytest

from benchmarks.fetch_rounds import fitted, per_round, table


def _idle(wait_ms: int, others: float, assigned: int = 96) -> dict[str, float | int]:
    return {
        "fetch_max_wait_ms": wait_ms,
        "assigned_partitions": assigned,
        "main_thread_ms_per_s": 3.5,
        "other_threads_ms_per_s": others,
    }


def test_a_round_costs_the_extra_cpu_over_the_extra_rounds() -> None:
    # 1,000 and 50 ms waits: 1 and 20 rounds a second, 19 more.
    assert per_round(_idle(1000, 5.0), _idle(50, 43.0)) == pytest.approx(2.0)


def test_the_fit_splits_a_round_into_a_fixed_part_and_a_part_per_partition() -> None:
    fit = fitted([(24, 0.9 + 24 * 0.009), (96, 0.9 + 96 * 0.009), (288, 0.9 + 288 * 0.009)])
    assert fit == {"fixed_ms_per_round": pytest.approx(0.9), "us_per_partition_per_round": 9.0}


def test_the_table_has_a_row_per_partition_count_and_names_the_fit() -> None:
    report = {
        "rounds": [
            {
                "partitions_per_topic": 4,
                "assigned_partitions": 96,
                "long_wait": _idle(1000, 5.0),
                "short_wait": _idle(50, 43.0),
                "consumer_thread_ms_per_round": 2.0,
            }
        ],
        "fit": {"fixed_ms_per_round": 0.9, "us_per_partition_per_round": 9.0},
    }
    text = table(report)
    assert "| 4 (96) | 5.0 / 43.0 | 3.5 / 3.5 | 2.0 |" in text
    assert "about 0.9 ms plus 9.0 µs per assigned partition" in text

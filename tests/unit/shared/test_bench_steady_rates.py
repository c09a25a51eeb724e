"""The benchmark's `--rates`: the steady rates it runs, in the order given."""

import argparse

import pytest

from benchmarks.stream_layer import steady_rates


def test_the_rates_are_kept_in_the_order_given() -> None:
    assert steady_rates("10,100") == (10.0, 100.0)
    assert steady_rates("75,25,50") == (75.0, 25.0, 50.0)


@pytest.mark.parametrize(
    "text", ["", "10,", "ten", "0", "-5", "12.5", "10,10", "inf", "nan", "10,-inf"]
)
def test_a_rate_that_cannot_name_its_phase_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        steady_rates(text)

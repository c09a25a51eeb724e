"""A reader that follows a partition while two producers write it reads every record.

Tansu 0.6.0 can store a partition's record N+1 before record N (it gives a record its offset
before it stores it); a consumer fetching in between was handed N+1 and never read N. Readers
now hold at such a gap until the record written late comes (`workers.faust_fixes.late_writes`,
installed by `hold_at_gaps_on_tansu`). Without the hold, about 1 record in 80,000 was skipped
this way (four writers, `python -m tests.support.late_writes_probe --unheld`; docs/streams.md,
"A gap in a partition's offsets is waited for, on Tansu"): the race is rare, so this test shows
the scenario end to end and the unit tests hold the rule."""

import os

import pytest

from tests.support.deployment import Deployment
from tests.support.late_writes_probe import skipped_while_written
from workers.faust_fixes import late_writes

pytestmark = pytest.mark.broker

ON_TANSU = os.environ.get("GVI_TEST_BROKER", "tansu") == "tansu"


def test_a_reader_following_two_writers_reads_every_offset_of_every_partition(
    deployment: Deployment,
) -> None:
    topic = deployment.topic("interleaved")
    skipped = skipped_while_written(deployment.bootstrap, topic, writers=2, per_partition=3000)
    listed = {partition: offsets[:10] for partition, offsets in skipped.items()}
    assert not skipped, f"offsets not read, or not in order, per partition: {listed}"
    assert late_writes.holding() is ON_TANSU, "readers hold at gaps on Tansu, and only there"

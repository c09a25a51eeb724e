"""How long a group's plans record takes to encode for its table: the worker's `stored_json`
(each history entry encoded once) against pydantic's `model_dump_json`, the same bytes.

Run: `.venv/bin/python -m benchmarks.stored_records [--entries 200] [--rounds 2000]`. `make bench`
holds 200 entries per group (20 groups of 250 incidents at the same moment).
"""

import argparse
import sys
import timeit
from datetime import UTC, datetime, timedelta

from schemas.history import GroupHistory, HistoryEntry
from schemas.incident import IncidentType
from workers.core.records import GroupPlans
from workers.stream.stores import stored_json

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def group_plans(entries: int) -> GroupPlans:
    history = GroupHistory(
        group_id="GRP-BENCH",
        entries=tuple(
            HistoryEntry(
                incident_id=f"INC-BENCH-{n:06d}",
                occurred_at=EPOCH + timedelta(minutes=n),
                incident_type=IncidentType.SHOOTING,
                tier=1 if n % 2 else None,
            )
            for n in range(entries)
        ),
    )
    return GroupPlans(group_id="GRP-BENCH", history=history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2000)
    arguments = parser.parse_args()
    plans, rounds = group_plans(arguments.entries), arguments.rounds
    stored = stored_json(plans)
    assert stored == plans.model_dump_json(exclude_none=True).encode("utf-8")
    pydantic = timeit.timeit(lambda: plans.model_dump_json(exclude_none=True), number=rounds)
    worker = timeit.timeit(lambda: stored_json(plans), number=rounds)
    print(f"a group's plans with {arguments.entries} history entries, {len(stored):,} bytes")
    print(f"  pydantic model_dump_json: {pydantic / rounds * 1e6:.1f} µs")
    print(f"  stored_json:              {worker / rounds * 1e6:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

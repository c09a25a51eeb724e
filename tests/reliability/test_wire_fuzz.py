"""Fuzzed input from an outside client: one answer per bad message, every good one processed."""

import os
import time
from collections import Counter, defaultdict

import pytest

from tests.support.deployment import Deployment
from tests.support.outside_clients import librdkafka_publish
from tests.support.scenario import expected_tasks, notified_group
from tests.support.wire_fuzz import WireFuzz

pytestmark = pytest.mark.broker

MESSAGES = int(os.environ.get("GVI_FUZZ_MESSAGES", "300"))
SEED = int(os.environ.get("GVI_FUZZ_SEED", "20261123"))


def test_every_bad_message_is_answered_once_and_every_good_one_is_processed(
    deployment: Deployment,
) -> None:
    deployment.start_worker(parked_incident_seconds=2.0, parked_update_seconds=2.0)
    groups = [notified_group(f"GRP-FZ-{n}") for n in range(4)]
    deployment.register_groups(*groups)
    fuzz = WireFuzz(SEED, groups)
    messages = fuzz.messages(MESSAGES)

    by_topic: defaultdict[str, list[int]] = defaultdict(list)
    for index, message in enumerate(messages):
        by_topic[message.topic].append(index)
    coordinates: dict[tuple[str, int, int], int] = {}
    for suffix, indexes in by_topic.items():
        placed = librdkafka_publish(
            deployment.bootstrap,
            deployment.topic(suffix),
            [(messages[i].key, messages[i].value) for i in indexes],
            **{"compression.type": "lz4"},
        )
        for index, where in zip(indexes, placed, strict=True):
            coordinates[(deployment.topic(suffix), where.partition, where.offset)] = index

    bad = {c: i for c, i in coordinates.items() if messages[i].bad}
    good = [messages[i] for i in coordinates.values() if not messages[i].bad]
    wanted = {
        str(task.task_id)
        for message in good
        if message.incident is not None
        for task in expected_tasks(message.incident, *groups)
    }
    patience = 120 + len(wanted) / 40  # the worker dispatches some hundred tasks a second
    deployment.wait_for("rejected", lambda values: len(values) >= len(bad), limit=patience)
    time.sleep(3)  # anything answered twice would show by now
    rejected = deployment.values("rejected")
    answers = Counter(
        (r["source_topic"], r["source_partition"], r["source_offset"]) for r in rejected
    )
    unanswered = [messages[bad[c]].kind for c in bad if answers[c] == 0]
    twice = {c: n for c, n in answers.items() if n > 1}
    stray = [c for c in answers if c not in bad]
    assert not unanswered, (
        f"bad messages without an answer: {Counter(unanswered)}; twice: {len(twice)}, "
        f"stray: {stray[:3]}, {len(rejected)} answers for {len(bad)} bad messages"
    )
    assert not twice, f"answered more than once: {list(twice.items())[:5]}"
    assert not stray, f"answers at coordinates of no bad message: {stray[:5]}"

    audit = deployment.wait_for(
        "audit", lambda values: {v["task_id"] for v in values} >= wanted, limit=patience
    )
    assert {v["task_id"] for v in audit} >= wanted
    kinds = Counter(message.kind for message in messages)
    print(f"fuzz: {len(messages)} messages, {len(bad)} bad, {len(wanted)} tasks; {dict(kinds)}")

"""Records produced in batches: each key on the partition the worker's partitioner gives it,
one batch per topic partition, a partition's records in their order, a full batch followed by
the next, and the topic named when a hand-over fails."""

import asyncio

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from events.partitioning import key_partitioner
from tests.support.producers import Producer
from workers.stream.outbound import Outbound
from workers.stream.producing import BatchedSend


def test_records_go_out_as_one_batch_per_topic_partition_each_key_where_it_belongs() -> None:
    keys = [f"TASK-{n}".encode() for n in range(12)]
    records = [Outbound("gvi.tasks.skatteverket", key, b"view") for key in keys]
    records += [Outbound("gvi.audit", key, b"audit", [("h", b"1")]) for key in keys]
    records.append(Outbound("gvi.completion", b"INC-1", b"snapshot", partition=3))
    producer = Producer()
    batches = asyncio.run(BatchedSend(producer).send(records))

    wanted = [
        (r.topic, r.key, r.value, r.partition)
        if r.partition is not None
        else (r.topic, r.key, r.value, key_partitioner(r.key, [0, 1, 2, 3], [0, 1, 2, 3]))
        for r in records
    ]
    assert sorted(producer.sent) == sorted(wanted)
    for topic, partition in {(t, p) for t, _, _, p in wanted}:
        in_order = [k for t, k, _, p in wanted if (t, p) == (topic, partition)]
        assert [k for t, k, _, p in producer.sent if (t, p) == (topic, partition)] == in_order
    assert len(batches) == len({(t, p) for t, _, _, p in wanted}) == producer.batches
    assert sum(batch.records for batch in batches) == len(records)


def test_a_full_batch_is_handed_over_and_the_next_one_takes_the_rest() -> None:
    records = [Outbound("gvi.audit", b"TASK-1", f"v{n}".encode(), partition=0) for n in range(5)]
    producer = Producer(room=2)
    batches = asyncio.run(BatchedSend(producer).send(records))
    assert [batch.records for batch in batches] == [2, 2, 1]
    assert [value for _, _, value, _ in producer.sent] == [f"v{n}".encode() for n in range(5)]


def test_a_failed_hand_over_names_its_topic() -> None:
    class Refusing(Producer):
        async def partitions_for(self, topic: str) -> set[int]:
            if topic == "gvi.tasks.kronofogden":
                raise TopicAuthorizationFailedError(topic)
            return {0, 1, 2, 3}

    send = BatchedSend(Refusing())
    records = [
        Outbound("gvi.audit", b"TASK-1", b"a"),
        Outbound("gvi.tasks.kronofogden", b"TASK-2", b"b"),
    ]
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(send.send(records))
    assert send.topic == "gvi.tasks.kronofogden"

"""The worker's own table writes: the store holds the value, and the changelog record is the one
faust would send (same topic, key and value bytes, partition), so that faust's recovery reads it
back; the store remembers the acknowledged offset."""

import asyncio
from pathlib import Path
from typing import Any

from faust.types import Message

from tests.support.fakes import event_on
from tests.support.producers import Producer, app_on
from workers.settings import Settings
from workers.stream.app import create_app
from workers.stream.changelog import Changelog, TableWrite


def _writer(settings: Settings, name: str, producer: Producer) -> tuple[Any, Producer, Changelog]:
    """A worker's table `name`, and a changelog writer on `producer`."""
    _, runtime = create_app(settings)
    return runtime.tables[name], producer, Changelog(app_on(producer))


def test_a_write_goes_to_the_store_and_its_record_is_the_one_faust_recovers(
    tmp_path: Path,
) -> None:
    settings = Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path)
    table, producer, changelog = _writer(settings, "incidents", Producer())
    event = event_on("gvi.incidents", "INC-TEST-1", b"{}", partition=2)
    stored = b'{"incident_id":"INC-TEST-1","version":1}'
    persisted: list[tuple[Any, int]] = []
    table.data.set_persisted_offset = lambda tp, offset: persisted.append((tp, offset))

    async def write(*writes: TableWrite) -> None:
        for made in writes:
            changelog.put(made)
        await asyncio.gather(*await changelog.record(writes))

    asyncio.run(write(TableWrite(table, "INC-TEST-1", stored, event)))
    assert table.data["INC-TEST-1"] == stored
    [(topic, key, value, partition)] = producer.sent
    assert topic == table.changelog_topic.get_topic_name() == "gvi-sanctions-incidents-changelog"
    assert partition == 2, "the partition of the message that wrote it"
    assert (key, value) == (b'"INC-TEST-1"', stored), "faust's encoding: JSON keys, raw values"
    assert [(tp.topic, tp.partition, offset) for tp, offset in persisted] == [(topic, 2, 41)]

    _, recovering = create_app(settings.model_copy(update={"data_dir": tmp_path / "other"}))
    fresh = recovering.tables["incidents"]
    message = Message(topic, 2, 41, 0.0, 0, [], key, value, None)
    record = asyncio.run(fresh.changelog_topic.decode(message, propagate=True))
    fresh.apply_changelog_batch([record])
    assert fresh["INC-TEST-1"] == stored, "faust's recovery reads the record back"

    asyncio.run(write(TableWrite(table, "INC-TEST-1", None, event)))
    assert "INC-TEST-1" not in table.data
    assert producer.sent[-1] == (topic, b'"INC-TEST-1"', None, 2), "a removal is a tombstone"


def test_a_batch_s_writes_go_out_as_one_record_batch_per_partition_in_order(
    tmp_path: Path,
) -> None:
    settings = Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path)
    # A full batch is sent and the next one started.
    table, producer, changelog = _writer(settings, "tasks", Producer(room=2))
    persisted: list[tuple[int, int]] = []
    table.data.set_persisted_offset = lambda tp, offset: persisted.append((tp.partition, offset))
    writes = [
        TableWrite(
            table, f"T-{n}", f"v{n}".encode(), event_on("gvi.x", f"T-{n}", b"{}", partition=n % 2)
        )
        for n in range(5)
    ]

    async def write() -> None:
        for made in writes:
            changelog.put(made)
        await asyncio.gather(*await changelog.record(writes))

    asyncio.run(write())
    assert [(value, partition) for _, _, value, partition in producer.sent] == [
        (b"v0", 0),
        (b"v2", 0),
        (b"v4", 0),
        (b"v1", 1),
        (b"v3", 1),
    ], "each partition's records in the order written"
    assert producer.batches == 3
    assert sorted(persisted) == [(0, 42), (0, 42), (1, 44)], "the last record of each batch"

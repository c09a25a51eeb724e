"""Typed stores: records kept as JSON bytes, read back as models; the app's tables are raw."""

from pathlib import Path

from schemas.group import GroupProfile
from tests.builders import group
from workers.app import TABLES, create_app
from workers.settings import Settings
from workers.stores import Store


def test_a_record_is_kept_as_its_json_bytes_and_read_back_equal() -> None:
    table: dict[str, object] = {}
    store = Store(table, GroupProfile)
    profile = group("GRP-STORE-1")
    store.put(profile.group_id, profile)
    assert isinstance(table[profile.group_id], bytes)
    assert Store(table, GroupProfile).get(profile.group_id) == profile
    assert [key for key, _ in store.items(lambda raw: b"GRP-STORE-1" in raw)] == ["GRP-STORE-1"]
    assert list(store.items(lambda raw: False)) == []
    store.pop(profile.group_id)
    assert store.get(profile.group_id) is None and table == {}


def test_every_table_stores_and_recovers_raw_bytes(tmp_path: Path) -> None:
    """A table whose changelog is decoded as JSON would hand dicts to its store after a
    recovery (seen in the kill loop: every read after a restart failed)."""
    _, runtime = create_app(Settings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path))
    for name in TABLES:
        table = runtime.tables[name]
        assert table.value_serializer == "raw", name
        assert table.changelog_topic.value_serializer == "raw", name

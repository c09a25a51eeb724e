"""`built`: records made from validated values, equal to what `model_construct` makes."""

import re
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from schemas.common import Contract, built


class Entry(Contract):
    entry_id: str
    at: datetime
    note: str | None = None
    tags: tuple[str, ...] = ()


def test_a_built_record_is_the_constructed_one_with_the_same_fields_set() -> None:
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    made = built(Entry, entry_id="ENTRY-1", at=at)
    constructed = Entry.model_construct(entry_id="ENTRY-1", at=at)
    assert made == constructed == Entry(entry_id="ENTRY-1", at=at)
    assert made.model_fields_set == constructed.model_fields_set == {"entry_id", "at"}
    assert made.model_dump_json() == constructed.model_dump_json()
    given_backwards = built(Entry, tags=(), at=at, entry_id="ENTRY-1")
    assert given_backwards.model_dump_json() == Entry(entry_id="ENTRY-1", at=at).model_dump_json()
    again = built(Entry, entry_id="ENTRY-2", at=at, note="second", tags=("a",))
    assert (again.entry_id, again.note, again.tags) == ("ENTRY-2", "second", ("a",))
    assert made.note is None and made.tags == (), "a copy leaves the defaults as they were"


def test_a_model_with_a_mutable_default_is_refused() -> None:
    class Listed(BaseModel):
        items: list[str] = []

    with pytest.raises(TypeError, match=re.escape("Listed.items")):
        built(Listed, items=["a"])


def test_a_required_field_left_out_or_a_name_the_model_lacks_is_refused() -> None:
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    with pytest.raises(TypeError, match=re.escape("missing ['at'], unknown []")):
        built(Entry, entry_id="ENTRY-3")
    with pytest.raises(TypeError, match=re.escape("missing [], unknown ['narrative']")):
        built(Entry, entry_id="ENTRY-3", at=at, narrative="never on a view")

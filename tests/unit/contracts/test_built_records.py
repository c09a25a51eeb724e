"""`built` and `amended`: records made from validated values, equal to what pydantic's
`model_construct` and `model_copy` make (a canary for the pinned pydantic's model layout)."""

import re
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, PrivateAttr

import schemas
import workers.core
from schemas.common import Contract, amended, built


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


def test_an_amended_record_is_the_copy_pydantic_makes() -> None:
    at = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    record = Entry(entry_id="ENTRY-4", at=at)
    for changes in ({}, {"note": "amended"}, {"tags": ("b",), "entry_id": "ENTRY-5"}):
        made, copied = amended(record, **changes), record.model_copy(update=changes)
        assert made.__getstate__() == copied.__getstate__(), changes
        assert made == copied and hash(made) == hash(copied)
        assert made.model_dump_json() == copied.model_dump_json()
        assert made is not record and record.note is None, "the record itself is unchanged"
    constructed = Entry.model_construct(entry_id="ENTRY-6", at=at)
    assert built(Entry, entry_id="ENTRY-6", at=at).__getstate__() == constructed.__getstate__()
    with pytest.raises(TypeError, match=re.escape("Entry: unknown ['narrative']")):
        amended(record, narrative="never on a view")


def test_a_model_with_more_than_plain_fields_is_refused() -> None:
    class Keeping(Contract):
        entry_id: str
        _seen: int = PrivateAttr(default=0)

    with pytest.raises(TypeError, match="only a model of plain fields"):
        built(Keeping, entry_id="ENTRY-7")
    with pytest.raises(TypeError, match="only a model of plain fields"):
        amended(Keeping(entry_id="ENTRY-7"), entry_id="ENTRY-8")


def test_every_contract_of_the_project_has_plain_fields() -> None:
    import importlib
    import pkgutil

    for package in (schemas, workers.core):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    contracts = _subclasses(Contract)
    assert len(contracts) > 30
    for contract in contracts:
        assert not contract.__private_attributes__, contract
        assert contract.model_config.get("extra") != "allow", contract
        assert contract.__pydantic_post_init__ is None, contract


def _subclasses(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = set(model.__subclasses__())
    for subclass in list(found):
        found |= _subclasses(subclass)
    return {m for m in found if m.__module__.startswith(("schemas", "workers"))}

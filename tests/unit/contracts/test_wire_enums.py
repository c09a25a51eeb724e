"""The contracts' enumerations: every one a `WireEnum`, its value its string on the wire."""

import enum
import importlib
import inspect
import pkgutil

import schemas
from schemas.common import WireEnum
from schemas.task import TaskStatus


def test_every_enumeration_of_the_contracts_is_a_wire_enum() -> None:
    enums = set()
    for module in pkgutil.iter_modules(schemas.__path__, f"{schemas.__name__}."):
        for member in vars(importlib.import_module(module.name)).values():
            defined_here = inspect.isclass(member) and member.__module__ == module.name
            if defined_here and issubclass(member, enum.Enum):
                enums.add(member)
    assert len(enums) >= 14
    assert sorted(e.__name__ for e in enums if not issubclass(e, WireEnum)) == []


def test_a_members_value_is_its_string_as_the_enum_module_gives_it() -> None:
    for member in TaskStatus:
        assert member.value == member._value_ == str(member) == f"{member}"
        assert type(member.value) is str
    assert TaskStatus("created") is TaskStatus.CREATED
    assert TaskStatus["CREATED"].value == "created"

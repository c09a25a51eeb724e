"""Typed stores over faust tables: each table keeps one record model, as its JSON bytes."""

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

Record = TypeVar("Record", bound=BaseModel)
PARSED_KEPT = 256
"""Records kept parsed per store: a key read again (a large incident's lines, a busy task)
is not validated again while its stored value is the same object."""


class Store(Generic[Record]):
    """One faust table (raw values) as a mapping of keys to `model` records.

    The table holds each record's JSON bytes, as its changelog does: in memory a task takes
    the size of its JSON, not that of a tree of Python dicts (about a third).
    """

    def __init__(self, table: Any, model: type[Record]) -> None:
        self.table = table
        self.model = model
        self._parsed: dict[str, tuple[Any, Record]] = {}

    def get(self, key: str) -> Record | None:
        stored = self.table.get(key)
        if not stored:
            return None
        cached = self._parsed.get(key)
        if cached is not None and cached[0] is stored:
            return cached[1]
        record = self.model.model_validate_json(stored)
        self._remember(key, stored, record)
        return record

    def put(self, key: str, record: Record) -> None:
        stored = record.model_dump_json().encode("utf-8")
        self.table[key] = stored
        self._remember(key, stored, record)

    def pop(self, key: str) -> None:
        if key in self.table:
            del self.table[key]
        self._parsed.pop(key, None)

    def items(self, where: Callable[[bytes], bool] | None = None) -> Iterator[tuple[str, Record]]:
        """Every record of this worker's partitions (for timers; a copy, safe to write during),
        or those whose stored JSON bytes pass `where` (a cheap filter before parsing)."""
        for key, stored in list(self.table.items()):
            if stored and (where is None or where(stored)):
                record = self.get(key)
                if record is not None:
                    yield key, record

    def _remember(self, key: str, stored: Any, record: Record) -> None:
        if len(self._parsed) >= PARSED_KEPT:
            self._parsed.clear()
        self._parsed[key] = (stored, record)

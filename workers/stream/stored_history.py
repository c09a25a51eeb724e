"""The stored JSON of a group's plans with each history entry encoded once, not at every write."""

from operator import is_

from events.codec import encode
from schemas.common import amended
from schemas.history import HistoryEntry
from workers.core.records import GroupPlans

ENTRIES_KEPT = 4096
"""Encoded history entries kept (about 120 bytes each, with the entry they encode: 2 to 3 MB at
most); beyond this the cache starts again."""
_EMPTY_ENTRIES = b'"entries":[]'

_ENCODED: dict[int, tuple[HistoryEntry, bytes]] = {}
"""An entry's JSON by its identity (the entry kept alive beside it): successive histories of a
group share their entry objects, so an entry is encoded once and then copied."""


def entry_json(entry: HistoryEntry) -> bytes:
    kept = _ENCODED.get(id(entry))
    if kept is not None and kept[0] is entry:
        return kept[1]
    if len(_ENCODED) >= ENTRIES_KEPT:
        _ENCODED.clear()
    encoded = encode(entry)
    _ENCODED[id(entry)] = (entry, encoded)
    return encoded


GROUPS_LISTED = 256
"""Groups whose latest history keeps its encoded list of entries (up to about 24 kB each)."""
_LISTED: dict[str, tuple[tuple[HistoryEntry, ...], bytes]] = {}
"""By group: the entries of its latest stored history and their entries' JSON joined by commas.
Looking up each of 200 encoded entries took about 60 µs at every incident; the next history,
which inserts an entry (and may drop the oldest), is encoded from this."""


def _joined(
    before: tuple[HistoryEntry, ...], body: bytes, entries: tuple[HistoryEntry, ...]
) -> bytes | None:
    """`entries` joined, from `body` (`before` joined) when `entries` are those of `before`,
    or those with one entry inserted anywhere and perhaps the oldest dropped; None otherwise."""
    dropped = len(before) + 1 - len(entries)
    if not before or not entries or dropped not in (0, 1):
        return None
    if dropped == 1 and all(map(is_, entries, before)):
        return body
    # The entries after the new one are the last of `before`: found from the end.
    after = 0
    while after < len(before) - dropped and entries[-1 - after] is before[-1 - after]:
        after += 1
    added = len(entries) - 1 - after
    if not all(map(is_, entries[:added], before[dropped : dropped + added])):
        return None
    tail = before[len(before) - after :]
    tail_bytes = sum(len(entry_json(entry)) for entry in tail) + max(after - 1, 0)
    pieces = []
    if added:
        start = len(entry_json(before[0])) + 1 if dropped else 0
        pieces.append(body[start : len(body) - tail_bytes - (1 if after else 0)])
    pieces.append(entry_json(entries[added]))
    if after:
        pieces.append(body[len(body) - tail_bytes :])
    return b",".join(pieces)


def entries_json(group_id: str, entries: tuple[HistoryEntry, ...]) -> bytes:
    """The entries' JSON joined by commas, from the group's last stored history if it can."""
    kept = _LISTED.get(group_id)
    listed = None
    if kept is not None:
        if kept[0] is entries:
            return kept[1]
        listed = _joined(kept[0], kept[1], entries)
    if listed is None:
        listed = b",".join([entry_json(entry) for entry in entries])
    if len(_LISTED) >= GROUPS_LISTED and group_id not in _LISTED:
        _LISTED.clear()
    _LISTED[group_id] = (entries, listed)
    return listed


def group_plans_json(plans: GroupPlans) -> bytes:
    """The bytes of `plans.model_dump_json(exclude_none=True)`: planning writes a group's
    record at every incident, and encoding a history of 200 entries took 150 µs each time."""
    history = plans.history
    if not history.entries:
        return encode(plans)
    shell = amended(plans, history=amended(history, entries=()))
    # A string's quotes are escaped in JSON: the empty list is found only where it is a field.
    head, found, tail = encode(shell).partition(_EMPTY_ENTRIES)
    if not found:
        return encode(plans)
    listed = entries_json(plans.group_id, history.entries)
    return b"".join((head, b'"entries":[', listed, b"]", tail))

"""Cursors over the read model's lists: positions on the topics that every replica shares, so
that a reader may ask any replica for what follows; and the pages they lead to."""

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    """Some rows of a list; the cursor after them (to ask for what follows, now or later, of
    any replica); whether more follow already."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool


class BadCursor(ValueError):
    """A cursor this API did not give."""


@dataclass(frozen=True)
class Cursor:
    """Where a reader of a list stands, in terms every replica shares: per partition of the
    topics the list is made of, the offset up to which it has seen every change (`since`);
    while it pages through one round, also the positions that round ends at (`until`) and
    the last key it was given (`after`). A replica that has read less answers less, never
    skips: a row is listed when a record that made its current state lies at or past `since`.
    """

    since: tuple[int, ...]
    until: tuple[int, ...] | None = None
    after: str | None = None

    def encode(self) -> str:
        document: dict[str, Any] = {"s": list(self.since)}
        if self.until is not None:
            document |= {"u": list(self.until), "a": self.after}
        packed = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 9)
        return base64.urlsafe_b64encode(packed).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, width: int) -> "Cursor":
        """The cursor `text` names, for lists over `width` partitions; raises BadCursor."""
        try:
            packed = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())
            document = json.loads(zlib.decompress(packed, bufsize=65536))
        except (ValueError, zlib.error):
            raise BadCursor("not a cursor of this API") from None
        if not isinstance(document, dict):
            raise BadCursor("not a cursor of this API")
        since = _offsets(document.get("s"), width)
        if "u" not in document:
            return cls(since)
        after = document.get("a")
        if after is not None and (not isinstance(after, str) or len(after) > 64):
            raise BadCursor("not a cursor of this API")
        return cls(since, _offsets(document.get("u"), width), after)


def _offsets(value: Any, width: int) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) != width
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**62 for n in value)
    ):
        raise BadCursor("not a cursor of this API")
    return tuple(value)

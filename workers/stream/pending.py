"""The effects of a batch not yet made: its messages to send and its table writes, which the
batch's later messages read; a table key belongs to the one message of the batch that wrote it."""

from collections import Counter
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from workers.core.outputs import Output
from workers.faust_fixes.internals import set_current_event
from workers.stream.changelog import TableWrite
from workers.stream.outbound import Outbound


class WriteConflict(BaseException):
    """A message writes a table key that an earlier message of its batch wrote: the batch ends
    before it. A BaseException, like a cancellation, so that no error boundary answers it."""


UNWRITTEN: Any = object()
"""`PendingState.lookup` of a key the batch has not written."""


@dataclass
class PendingWrite:
    table: Any
    key: str
    stored: bytes | None
    writer: int
    event: Any


@dataclass
class PendingState:
    """The batch's table writes, by table and key, in the order first written."""

    writes: dict[tuple[int, str], PendingWrite] = field(default_factory=dict)
    writer: int = 0
    event: Any = None

    def lookup(self, table: Any, key: str) -> bytes | None:
        """The value the batch wrote for `key` (None: removed), or `UNWRITTEN`."""
        found = self.writes.get((id(table), key))
        return UNWRITTEN if found is None else found.stored

    def write(self, table: Any, key: str, stored: bytes | None) -> None:
        found = self.writes.get((id(table), key))
        if found is not None and found.writer != self.writer:
            raise WriteConflict(key)
        self.writes[(id(table), key)] = PendingWrite(table, key, stored, self.writer, self.event)

    def forget(self, writer: int) -> None:
        self.writes = {k: w for k, w in self.writes.items() if w.writer != writer}

    def table_writes(self) -> list[TableWrite]:
        """The batch's writes, each with the event that caused it (its changelog partition)."""
        return [TableWrite(w.table, w.key, w.stored, w.event) for w in self.writes.values()]


@dataclass
class PendingBatch:
    """A batch's events, and the messages and writes of each, until the batch is flushed."""

    events: list[Any] = field(default_factory=list)
    messages: list[Outbound] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    state: PendingState = field(default_factory=PendingState)
    handled: list[tuple[str, int, int]] = field(default_factory=list)
    once_sent: list[Callable[[], None]] = field(default_factory=list)
    marks: list[tuple[int, int, int, int]] = field(default_factory=list)

    def begin(self, event: Any) -> None:
        """The batch's next message: what follows is its effect."""
        self.events.append(event)
        self.marks.append(
            (len(self.messages), len(self.outputs), len(self.handled), len(self.once_sent))
        )
        self.state.writer, self.state.event = len(self.events) - 1, event
        set_current_event(event)

    def drop_last(self) -> Any:
        """Take the last message out of the batch, with its effects; returns its event."""
        messages, outputs, handled, once_sent = self.marks.pop()
        del self.messages[messages:], self.outputs[outputs:], self.handled[handled:]
        del self.once_sent[once_sent:]
        self.state.forget(len(self.events) - 1)
        return self.events.pop()

    def add(self, outputs: Iterable[Output], messages: Iterable[Outbound]) -> None:
        self.outputs.extend(outputs)
        self.messages.extend(messages)


PENDING: ContextVar[PendingBatch | None] = ContextVar("gvi_pending_batch", default=None)
"""The batch the running agent is filling (None outside a batch: effects are made at once)."""

DONE: ContextVar[Counter[str] | None] = ContextVar("gvi_batch_done", default=None)
"""What the running batch's messages did, by log line: the batch logs it once, its messages at
debug level only."""


def note(what: str) -> None:
    """Count `what` (a message's routine log line) in the running batch's line."""
    done = DONE.get()
    if done is not None:
        done[what] += 1

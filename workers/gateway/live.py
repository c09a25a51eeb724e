"""The dashboard's live stream: each snapshot and escalation as the read model folds it, and
again once the tasks it had to leave out can be audited."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sse_starlette import ServerSentEvent

from workers.gateway.disclosure import event_items
from workers.gateway.read_model import ReadModel

Audited = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]

WAIT_SECONDS = 600.0
"""How long the stream waits for the record of a task it left out (then gives up on it)."""
WAITING_MOST = 256
"""The most updates one stream waits on; beyond, the oldest is given up."""


@dataclass(frozen=True)
class Waiting:
    """An update sent without some of its tasks, or held back, until their records are read."""

    kind: str
    value: dict[str, Any]
    tasks: frozenset[str]
    until: float


async def live_updates(
    model: ReadModel,
    allowed: Callable[[], bool],
    audited: Audited,
    recheck_seconds: float = 1.0,
) -> AsyncIterator[ServerSentEvent]:
    """Each completion snapshot and escalation the read model folds in, as it does, while
    `allowed()` holds: a logout or a revoked token ends the stream within `recheck_seconds`.
    `audited` audits what an event shows of its tasks and answers what may be sent (a
    snapshot without the lines it could not audit), or None: that event is not sent (another
    partnership's, or an escalation of a task not read yet). An update that left a task out
    is sent again, whole, within `recheck_seconds` of the task's record being read."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    model.listeners.add(queue)
    waiting: dict[str, Waiting] = {}
    looked = time.monotonic()
    try:
        yield ServerSentEvent(event="ready", data="{}")
        while allowed():
            update: tuple[str, dict[str, Any]] | None = None
            try:
                async with asyncio.timeout(recheck_seconds):
                    update = await queue.get()
            except TimeoutError:
                pass
            if not allowed():
                break
            if update is not None:
                event = await _shown(model, audited, *update, waiting)
                if event is not None:
                    yield event
            if waiting and time.monotonic() - looked >= recheck_seconds:
                looked = time.monotonic()
                for event in await _now_shown(model, audited, waiting):
                    yield event
    finally:
        model.listeners.discard(queue)


async def _shown(
    model: ReadModel,
    audited: Audited,
    kind: str,
    value: dict[str, Any],
    waiting: dict[str, Waiting],
    until: float | None = None,
) -> ServerSentEvent | None:
    """The event of one update as it may be sent now; what it leaves out is waited on until
    `until` (a newer snapshot of the incident replaces the one waited on)."""
    key = _key(kind, value)
    waiting.pop(key, None)
    shown = await audited(kind, value)
    left_out = _tasks(kind, value) - (_tasks(kind, shown) if shown is not None else set())
    if left_out and (shown is not None or kind == "escalation"):
        # a snapshot leaves out only lines not read yet; an escalation may be another's
        absent = left_out if shown is not None else left_out - set(await model.views(left_out))
        if absent:
            until = time.monotonic() + WAIT_SECONDS if until is None else until
            waiting[key] = Waiting(kind, value, frozenset(absent), until)
            while len(waiting) > WAITING_MOST:
                del waiting[next(iter(waiting))]
    return None if shown is None else ServerSentEvent(event=kind, data=json.dumps(shown))


async def _now_shown(
    model: ReadModel, audited: Audited, waiting: dict[str, Waiting]
) -> list[ServerSentEvent]:
    """The updates waited on whose left-out tasks have been read since, sent again."""
    events = []
    now = time.monotonic()
    for key, held in list(waiting.items()):
        if held.until < now:
            del waiting[key]
        elif await model.views(held.tasks):
            event = await _shown(model, audited, held.kind, held.value, waiting, held.until)
            if event is not None:
                events.append(event)
    return events


def _key(kind: str, value: dict[str, Any]) -> str:
    if kind == "incident":
        return f"incident:{value.get('incident_id')}"
    fields = ("task_id", "reason", "level", "detected_at")
    return ":".join(["escalation", *(str(value.get(name)) for name in fields)])


def _tasks(kind: str, value: dict[str, Any]) -> set[str]:
    return {str(item["task_id"]) for item in event_items(kind, value) if "task_id" in item}

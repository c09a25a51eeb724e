"""Worker diagnostics shared by the watchdogs: what each loop awaits, producer and fetch state,
and the runner of their periodic checks."""

import asyncio
import functools
import gc
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

import structlog

from workers.faust_fixes import internals
from workers.stream.exits import crash_within

log = structlog.get_logger("gvi.diagnostics")

Args = ParamSpec("Args")


def best_effort(
    describe: Callable[Args, dict[str, Any]],
) -> Callable[Args, dict[str, Any]]:
    """A state report that never fails the watchdog reading it: an error is reported instead."""

    @functools.wraps(describe)
    def guarded(*args: Args.args, **kwargs: Args.kwargs) -> dict[str, Any]:
        try:
            return describe(*args, **kwargs)
        except Exception as error:  # private faust/aiokafka attributes may change
            return {"unavailable": f"{type(error).__name__}: {error}"}

    return guarded


def describe_tasks(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Each pending task of ``loop`` as its chain of awaited coroutines, for the log."""
    for _ in range(3):
        try:
            tasks = list(asyncio.all_tasks(loop))
            break
        except RuntimeError:  # the loop's task set changed while it was copied
            continue
    else:
        return []
    chains = []
    for task in tasks:
        links: list[str] = []
        awaited: Any = task.get_coro()
        while awaited is not None and len(links) < 30:
            frame = (
                getattr(awaited, "cr_frame", None)
                or getattr(awaited, "gi_frame", None)
                or getattr(awaited, "ag_frame", None)
            )
            name = getattr(awaited, "__qualname__", type(awaited).__name__)
            links.append(f"{name}:{frame.f_lineno if frame else '-'}")
            awaited = _next_awaited(awaited)
        chains.append(" > ".join(links))
    return sorted(chains)


_HIDDEN = {"coroutine_wrapper": "cr_frame", "async_generator_asend": "ag_frame"}


def _next_awaited(awaited: Any) -> Any:
    following = (
        getattr(awaited, "cr_await", None)
        or getattr(awaited, "gi_yieldfrom", None)
        or getattr(awaited, "ag_await", None)
    )
    hidden_in = _HIDDEN.get(type(awaited).__name__)
    if following is None and hidden_in:
        # `await agent` and `async for` go through wrappers that do not expose what they run.
        inner = [ref for ref in gc.get_referents(awaited) if hasattr(ref, hidden_in)]
        following = inner[0] if inner else None
    return following


producer_state = best_effort(internals.producer_state)
fetch_state = best_effort(internals.fetch_state)


@best_effort
def recovery_state(app: Any) -> dict[str, Any]:
    """Where faust's recovery stands: applied and end offsets per changelog partition, queues."""
    recovery = app.tables.recovery
    behind = {
        f"{tp.topic}/{tp.partition}": {
            "applied": recovery.active_offsets.get(tp),
            "highwater": recovery.active_highwaters.get(tp),
        }
        for tp in sorted(recovery.active_tps)
        if (recovery.active_highwaters.get(tp) or -1) > (recovery.active_offsets.get(tp) or -1)
    }
    return {
        "behind": behind,
        "changelog_queue": app.tables.changelog_queue.qsize(),
        "buffered_events": {table.name: len(events) for table, events in recovery.buffers.items()},
        "signal_recovery_start": recovery.signal_recovery_start.is_set(),
        "flow_active": bool(app.consumer.flow_active),
    }


def evidence(app: Any) -> dict[str, Any]:
    """Everything a stall record carries about the worker as a whole."""
    return {
        "producer": producer_state(app),
        "main_tasks": describe_tasks(app.loop),
        "consumer_thread_tasks": describe_tasks(internals.consumer_thread_loop(app)),
    }


class WatchdogBroken(RuntimeError):
    """A watchdog's check met a library without a name it reads: it cannot watch any more."""


def run_every(app: Any, interval: float, check: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``check`` every ``interval`` seconds from the app's start. A check that fails once
    only logs (a watchdog must never be what stops a worker by accident); one that meets a
    missing name (AttributeError: a library changed under it) crashes the worker loudly rather
    than leave it unwatched."""

    async def watch() -> None:
        while not app.should_stop:
            await app.sleep(interval)
            try:
                await check()
            except AttributeError as missing:
                log.critical("watchdog broken: a name it reads is gone", watchdog=name)
                await crash_within(app, WatchdogBroken(f"watchdog {name}: {missing}"))
                return
            except Exception:
                log.exception("watchdog check failed", watchdog=name)

    app.background(watch)

"""Worker diagnostics shared by the watchdogs: what each loop awaits, producer and fetch state."""

import asyncio
import functools
import gc
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

import structlog

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


@best_effort
def producer_state(app: Any) -> dict[str, Any]:
    """What aiokafka's producer holds: batches waiting and sent, and what it thinks is in flight."""
    producer = getattr(app.producer, "_producer", None)
    if producer is None:
        return {}
    sender = producer._sender
    accumulator = producer._message_accumulator
    waiting = {
        f"{tp.topic}/{tp.partition}": len(batches)
        for tp, batches in accumulator._batches.items()
        if batches
    }
    return {
        "waiting_batches": waiting,
        "sent_batches": len(accumulator._pending_batches),
        "nodes_in_flight": sorted(sender._in_flight),
        "muted_partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in sender._muted_partitions),
        "leaders": {
            name: producer.client.cluster.leader_for_partition(tp)
            for tp in accumulator._batches
            if (name := f"{tp.topic}/{tp.partition}") in waiting
        },
        "sender_alive": not sender.sender_task.done() if sender.sender_task else None,
    }


@best_effort
def fetch_state(app: Any, tps: Any) -> dict[str, Any]:
    """How the consumer stands on each of `tps`: position, pause, buffered records, activity."""
    consumer = app.consumer
    aiokafka_consumer = consumer._thread._ensure_consumer()
    assignment = aiokafka_consumer._subscription.subscription.assignment
    fetcher = aiokafka_consumer._fetcher
    active = consumer._active_partitions or set()
    state: dict[str, Any] = {}
    for tp in sorted(tps):
        tp_state = assignment.state_value(tp) if assignment is not None else None
        state[f"{tp.topic}/{tp.partition}"] = {
            "position": getattr(tp_state, "_position", None),
            "highwater": getattr(tp_state, "highwater", None),
            "paused": getattr(tp_state, "paused", None),
            "awaiting_reset": getattr(tp_state, "awaiting_reset", None),
            "buffered": type(fetcher._records[tp]).__name__ if tp in fetcher._records else None,
            "active_in_faust": tp in active,
        }
    return state


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


def force_rebalance(app: Any) -> None:
    """Ask the consumer's group coordinator, on its own thread, to rejoin the group."""
    thread = app.consumer._thread
    coordinator = thread._ensure_consumer()._coordinator
    thread.thread_loop.call_soon_threadsafe(coordinator.request_rejoin)


def evidence(app: Any) -> dict[str, Any]:
    """Everything a stall record carries about the worker as a whole."""
    return {
        "producer": producer_state(app),
        "main_tasks": describe_tasks(app.loop),
        "consumer_thread_tasks": describe_tasks(app.consumer._thread.thread_loop),
    }


def run_every(app: Any, interval: float, check: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``check`` every ``interval`` seconds from the app's start; a failing check only logs."""

    async def watch() -> None:
        while not app.should_stop:
            await app.sleep(interval)
            try:
                await check()
            except Exception:  # a watchdog must never be what stops a worker by accident
                log.exception("watchdog check failed", watchdog=name)

    app.background(watch)

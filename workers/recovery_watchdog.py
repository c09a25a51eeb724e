"""Recovery watchdog: a table recovery that receives nothing for too long forces a rebalance."""

import asyncio
import gc
from dataclasses import dataclass
from time import monotonic
from typing import Any

import structlog

log = structlog.get_logger("gvi.recovery")


class RecoveryStalled(RuntimeError):
    """Table recovery made no progress through several forced rebalances."""


@dataclass(frozen=True)
class RecoveryProgress:
    """What faust's recovery service reports at one moment (monotonic seconds)."""

    in_recovery: bool
    remaining: int
    started_at: float | None
    last_event_at: float | None


def stalled_for(progress: RecoveryProgress, now: float) -> float:
    """Seconds since the recovery last made progress; 0 when it is not waiting for anything."""
    if not progress.in_recovery or progress.remaining <= 0 or progress.started_at is None:
        return 0.0
    last = max(progress.started_at, progress.last_event_at or progress.started_at)
    return max(0.0, now - last)


@dataclass
class RebalanceBudget:
    """Decides, for a stall of some length, whether to force a rebalance or to give up.

    Forced rebalances are at least ``limit`` apart; after ``attempts`` of them without progress
    the worker gives up, so that its supervisor restarts it. A stall of 0 resets the count.
    """

    limit: float
    attempts: int = 3
    forced: int = 0
    last_forced_at: float | None = None

    def decide(self, stalled: float, now: float) -> str | None:
        """`None`, `"rebalance"` or `"give up"`."""
        if stalled == 0.0:
            self.forced = 0
        if stalled < self.limit:
            return None
        if self.last_forced_at is not None and now - self.last_forced_at < self.limit:
            return None
        self.last_forced_at = now
        if self.forced >= self.attempts:
            return "give up"
        self.forced += 1
        return "rebalance"


@dataclass
class RecoveryWatchdog(RebalanceBudget):
    """A recovery that still has changelog messages to read but has received none for ``limit``
    seconds is stuck (docs/streams.md, "Recovery watchdog"): a rebalance restarts it from the
    committed offsets, which loses nothing."""

    def check(self, progress: RecoveryProgress, now: float) -> str | None:
        """`None`, `"rebalance"` or `"give up"`."""
        return self.decide(stalled_for(progress, now), now)


def read_progress(app: Any) -> RecoveryProgress:
    """The recovery state of a running faust app."""
    recovery = app.tables.recovery
    received = list(recovery._active_events_received_at.values())
    return RecoveryProgress(
        in_recovery=bool(recovery.in_recovery),
        remaining=int(recovery.active_remaining_total()) if recovery.in_recovery else 0,
        started_at=recovery._recovery_started_at,
        last_event_at=max(received) if received else None,
    )


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


def force_rebalance(app: Any) -> None:
    """Ask the consumer's group coordinator, on its own thread, to rejoin the group."""
    thread = app.consumer._thread
    coordinator = thread._ensure_consumer()._coordinator
    thread.thread_loop.call_soon_threadsafe(coordinator.request_rejoin)


def register(app: Any, limit: float) -> RecoveryWatchdog:
    """Check the app's recovery every few seconds, from its start; act when it is stuck."""
    watchdog = RecoveryWatchdog(limit=limit)
    interval = max(1.0, min(5.0, limit / 3))

    async def watch_recovery() -> None:
        while not app.should_stop:
            await app.sleep(interval)
            try:
                await _check(app, watchdog)
            except Exception:  # the watchdog must never be what stops a worker by accident
                log.exception("recovery watchdog check failed")

    app.background(watch_recovery)
    return watchdog


async def _check(app: Any, watchdog: RecoveryWatchdog) -> None:
    progress = read_progress(app)
    action = watchdog.check(progress, monotonic())
    if action is None:
        return
    thread = app.consumer._thread
    log.error(
        "table recovery stalled",
        action=action,
        stalled_seconds=round(stalled_for(progress, monotonic()), 1),
        remaining=progress.remaining,
        forced_rebalances=watchdog.forced,
        producer=producer_state(app),
        changelogs=fetch_state(app, app.tables.recovery.active_tps),
        main_tasks=describe_tasks(app.loop),
        consumer_thread_tasks=describe_tasks(thread.thread_loop),
    )
    if action == "rebalance":
        force_rebalance(app)
    else:
        reason = f"no recovery progress through {watchdog.forced} forced rebalances"
        await app.crash(RecoveryStalled(reason))

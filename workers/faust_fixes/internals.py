"""The private faust, mode and aiokafka names that the watchdogs and tools read or act through,
each behind one function here; `PRIVATE_NAMES` lists them for their attribute canaries.

Reading them gives a stall's evidence and a partition's progress; one acts: `force_rebalance`
asks the group coordinator to rejoin. A rename in an upgrade raises AttributeError, which the
watchdogs' runner treats as fatal (`workers/stream/watchdogs/diagnostics.py`, `run_every`)."""

import inspect
import weakref
from collections.abc import Iterable, Mapping
from importlib import import_module
from typing import Any

from faust import streams

PRIVATE_NAMES: dict[str, tuple[str, ...]] = {
    "aiokafka.producer.producer:AIOKafkaProducer": ("_sender", "_message_accumulator"),
    "aiokafka.producer.message_accumulator:MessageAccumulator": ("_batches", "_pending_batches"),
    "aiokafka.producer.sender:Sender": ("_in_flight", "_muted_partitions"),
    "aiokafka.consumer.consumer:AIOKafkaConsumer": (
        "_subscription",
        "_fetcher",
        "_coordinator",
        "_client",
    ),
    "aiokafka.consumer.fetcher:Fetcher": ("_records",),
    "aiokafka.consumer.subscription_state:TopicPartitionState": ("_position",),
    "faust.transport.drivers.aiokafka:Consumer": ("_thread",),
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread": ("_ensure_consumer",),
    "faust.transport.drivers.aiokafka:Producer": ("_ensure_producer",),
    "faust.transport.consumer:Consumer": (
        "_active_partitions",
        "_buffered_partitions",
        "_committed_offset",
    ),
    "faust.tables.recovery:Recovery": ("_active_events_received_at", "_recovery_started_at"),
    "faust.streams:": ("_current_event",),
}
"""Each class, `module:Class`, with the private names read or acted through here."""


def defines(class_path: str, name: str) -> bool:
    """Whether the class (or a base) has `name` as an attribute or assigns `self.<name>`; for
    `module:` (no class), whether the module has it."""
    module_name, _, class_name = class_path.partition(":")
    if not class_name:
        return hasattr(import_module(module_name), name)
    found: type = getattr(import_module(module_name), class_name)
    for klass in inspect.getmro(found):
        if name in vars(klass) or name in getattr(klass, "__annotations__", {}):
            return True
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if f"self.{name} =" in source or f"self.{name}:" in source:
            return True
    return False


def set_current_event(event: Any) -> None:
    """Make `event` the running task's current faust event, as faust's stream iteration does:
    a table write takes its changelog partition (and RocksDB its partition file) from it. The
    batch runner handles events taken by another task, and writes a batch's state later."""
    streams._current_event.set(weakref.ref(event))


def aiokafka_consumer(app: Any) -> Any:
    """The aiokafka consumer under faust's consumer thread."""
    return app.consumer._thread._ensure_consumer()


def aiokafka_producer(app: Any) -> Any:
    """The aiokafka producer under faust's producer (started with the app): the worker hands
    it whole record batches (`workers/stream/producing.py`); faust's `send` takes one record."""
    return app.producer._ensure_producer()


def consumer_thread_loop(app: Any) -> Any:
    """The event loop of faust's consumer thread."""
    return app.consumer._thread.thread_loop


def force_rebalance(app: Any) -> None:
    """Ask the consumer's group coordinator, on its own thread, to rejoin the group."""
    coordinator = aiokafka_consumer(app)._coordinator
    consumer_thread_loop(app).call_soon_threadsafe(coordinator.request_rejoin)


def buffered_partitions(consumer: Any) -> set[Any]:
    """The partitions whose fetched records faust still holds in its buffers."""
    return set(consumer._buffered_partitions)


def committed_offsets(consumer: Any) -> Mapping[Any, int]:
    """The offsets faust has committed, per partition."""
    committed: Mapping[Any, int] = consumer._committed_offset
    return committed


def active_partitions(consumer: Any) -> set[Any]:
    """The partitions faust takes records from now."""
    return set(consumer._active_partitions or ())


def recovery_times(recovery: Any) -> tuple[float | None, list[float]]:
    """When faust's table recovery started, and when each active changelog last delivered."""
    return recovery._recovery_started_at, list(recovery._active_events_received_at.values())


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


def fetch_state(app: Any, tps: Iterable[Any]) -> dict[str, Any]:
    """How the consumer stands on each of `tps`: position, pause, buffered records, activity."""
    consumer = aiokafka_consumer(app)
    assignment = consumer._subscription.subscription.assignment
    fetcher = consumer._fetcher
    active = active_partitions(app.consumer)
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


async def refresh_metadata(consumer: Any) -> None:
    """Make an aiokafka consumer's client fetch the cluster's metadata now."""
    await consumer._client.force_metadata_update()

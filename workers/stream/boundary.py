"""The per-message error boundary, and the agents' subscription to their topics: every message
gets exactly one answer, its effect or one rejection at the coordinates it was published at."""

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import structlog
from faust.types import EventT, StreamT

from schemas.rejection import Refused, RejectionCode
from workers.core.messages import SourceRef
from workers.faust_fixes.unreadable_batches import unreadable_reason
from workers.stream.batches import BatchLimits, run_batches
from workers.stream.runtime import MAX_MESSAGE_BYTES, DeliveryFailed, Runtime, delivery_failure

log = structlog.get_logger("gvi.boundary")


class RefusedAt(Refused):
    """A refusal about a message read earlier, at other coordinates (e.g. the incident)."""

    def __init__(self, refusal: Refused, source: SourceRef) -> None:
        super().__init__(refusal.message, refusal.code)
        self.source = source


@contextmanager
def answering_at(source: SourceRef) -> Iterator[None]:
    """Answer whatever goes wrong inside at `source`: the message the sender published, not the
    internal message that carried its work (the sender cannot look that one up)."""
    try:
        yield
    except RefusedAt:
        raise
    except Refused as refusal:
        raise RefusedAt(refusal, source) from None
    except Exception as error:
        if delivery_failure(error):
            raise
        log.exception("agent failed on a message", topic=source.topic, offset=source.offset)
        raise RefusedAt(
            Refused(f"{type(error).__name__}: {error}", RejectionCode.INTERNAL_ERROR), source
        ) from error


async def guarded(
    runtime: Runtime, event: EventT[Any], handle: Callable[[EventT[Any]], Awaitable[None]]
) -> None:
    """The per-message error boundary: a bad message is rejected with a reason; nothing escapes.

    When the broker does not take the output (a timeout, a lost connection, no leader), the
    message is handled again after a growing pause, for as long as that lasts: its offset is
    not committed meanwhile, and every effect is idempotent by id. An agent held this way for
    long is reported and, in the end, restarts the worker (`workers/stuck_events.py`).
    """
    message = event.message
    if runtime.handled.already_handled(message.topic, message.partition, message.offset):
        log.debug(
            "message delivered again after a seek; already handled",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        return
    attempt = 0
    while True:
        try:
            await _handle_or_reject(runtime, event, handle)
            runtime.handled.mark_handled(message.topic, message.partition, message.offset)
            return
        except DeliveryFailed as failure:
            delay = runtime.delivery_backoff.delay(attempt)
            attempt += 1
            if attempt >= 2:
                await runtime.recreate_missing_topics()
            log.warning(
                "output not delivered; handling the message again",
                topic=event.message.topic,
                partition=event.message.partition,
                offset=event.message.offset,
                attempt=attempt,
                retry_in=delay,
                error=str(failure),
            )
            await asyncio.sleep(delay)


async def _handle_or_reject(
    runtime: Runtime, event: EventT[Any], handle: Callable[[EventT[Any]], Awaitable[None]]
) -> None:
    try:
        refuse_unreadable(event)
        refuse_too_large(event)
        if await runtime.forward_if_misplaced(event):
            return
        await handle(event)
    except RefusedAt as refusal:
        await _reject_safely(runtime, refusal.source, refusal.code, refusal.message)
    except Refused as refusal:
        await _reject_safely(runtime, runtime.source_of(event), refusal.code, refusal.message)
    except Exception as error:
        if delivery_failure(error):
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
        log.exception("agent failed on a message", topic=event.message.topic)
        await _reject_safely(
            runtime,
            runtime.source_of(event),
            RejectionCode.INTERNAL_ERROR,
            f"{type(error).__name__}: {error}",
        )


def refuse_unreadable(event: EventT[Any]) -> None:
    """A placeholder for an offset of a record batch that could not be read is answered."""
    message = event.message
    if message.value is not None or message.key is not None:
        return
    reason = unreadable_reason(message.headers)
    if reason is not None:
        raise Refused(
            f"the record batch holding this offset cannot be read ({reason}); "
            "the producer must send it again",
            RejectionCode.UNREADABLE_BATCH,
        )


def refuse_too_large(event: EventT[Any]) -> None:
    """A message larger (once decompressed) than anything the contracts allow is answered
    before it is decoded or forwarded: forwarding it whole would fail at the broker."""
    message = event.message
    size = len(message.value or b"") + len(message.key or b"")
    if size > MAX_MESSAGE_BYTES:
        raise Refused(
            f"the message holds {size:,} bytes of key and value; the contracts allow far less "
            f"(the worker takes at most {MAX_MESSAGE_BYTES:,}): a field is too long",
            RejectionCode.TOO_LARGE,
        )


async def _reject_safely(
    runtime: Runtime, source: SourceRef, code: RejectionCode, message: str
) -> None:
    try:
        await runtime.reject(source, code, message)
    except Exception as error:
        if delivery_failure(error):
            raise DeliveryFailed(
                f"rejection not written: {type(error).__name__}: {error}"
            ) from error
        log.exception("could not write the rejection", topic=source.topic, offset=source.offset)


Handler = Callable[[EventT[Any]], Awaitable[None]]


def subscribe(app: Any, runtime: Runtime, name: str, handlers: Mapping[str, Handler]) -> None:
    """Register agent `name` on the topics of `handlers` (co-partitioned), each message handled
    by its topic's handler inside the error boundary, in batches (`stream/batches.py`)."""

    async def handle(event: EventT[Any]) -> None:
        await handlers[event.message.topic](event)

    channel = app.topic(*handlers, key_serializer="raw", value_serializer="raw")

    limits = BatchLimits(
        runtime.settings.batch_max_messages, runtime.settings.batch_max_ms / 1000.0
    )

    async def one(event: EventT[Any]) -> None:
        await guarded(runtime, event, handle)

    async def agent(stream: StreamT[Any]) -> None:
        await run_batches(runtime, cast(Any, stream).noack(), one, limits, name)

    agent.__name__ = agent.__qualname__ = name.replace("-", "_")
    app.agent(channel, name=name)(agent)

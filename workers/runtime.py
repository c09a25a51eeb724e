"""What every agent shares: settings, policy, topics, tables, and the rejection boundary."""

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.errors import KafkaError, KafkaTimeoutError
from faust.exceptions import ProducerSendError
from faust.types import EventT

from events.catalogue import Catalogue
from events.codec import encode, key_text
from events.envelopes import SourceRef
from schemas.rejection import Refused, Rejection, RejectionCode
from workers.core.policy import Policy
from workers.settings import Settings

log = structlog.get_logger("gvi.boundary")
MAX_KEY_CHARS = 256
"""A rejection keeps at most this much of the source key, in its record and as its own key:
the answer to a message with a huge key must still fit."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryBackoff:
    """Waits between attempts to write a message's output: doubling from `first` up to `longest`."""

    first: float = 0.2
    longest: float = 10.0

    def delay(self, attempt: int) -> float:
        return float(min(self.first * 2.0 ** min(attempt, 32), self.longest))


@dataclass
class Runtime:
    """The shared context of one worker's agents; the app fills in faust topics and tables."""

    settings: Settings
    policy: Policy
    catalogue: Catalogue
    topics: dict[str, Any]
    tables: dict[str, Any]
    worker_name: str = f"{socket.gethostname()}:{os.getpid()}"
    delivery_backoff: RetryBackoff = field(default_factory=RetryBackoff)

    async def send(self, topic_name: str, key: str, value: bytes) -> None:
        """Send and wait for the broker's acknowledgement, so that state is written only after."""
        pending = await self.topics[topic_name].send(key=key.encode("utf-8"), value=value)
        await pending

    async def reject(self, source: SourceRef, code: RejectionCode, message: str) -> None:
        rejection = Rejection(
            source_topic=source.topic,
            source_partition=source.partition,
            source_offset=source.offset,
            source_key=source.key[:MAX_KEY_CHARS] if source.key else None,
            error_code=code,
            message=message[:2000] or code.value,
            rejected_at=utc_now(),
            worker=self.worker_name[:200],
        )
        log.warning(
            "message rejected",
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            code=code.value,
            reason=rejection.message,
        )
        await self.send(self.catalogue.rejected.name, rejection.source_key or "", encode(rejection))


def source_of(event: EventT[Any]) -> SourceRef:
    """The coordinates of the message an event came from."""
    message = event.message
    return SourceRef(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key_text(message.key),
    )


class RefusedAt(Refused):
    """A refusal about a message read earlier, at other coordinates (e.g. the incident)."""

    def __init__(self, refusal: Refused, source: SourceRef) -> None:
        super().__init__(refusal.message, refusal.code)
        self.source = source


class DeliveryFailed(Exception):
    """The broker did not take a message's output, for a reason that may pass."""


def delivery_failure(error: BaseException) -> bool:
    """True when the output was not written for a reason that may pass, not a bad message."""
    cause = error.__cause__ if isinstance(error, ProducerSendError) else error
    if isinstance(cause, KafkaTimeoutError):
        return True
    return isinstance(cause, KafkaError) and bool(getattr(cause, "retriable", False))


async def guarded(
    runtime: Runtime, event: EventT[Any], handle: Callable[[EventT[Any]], Awaitable[None]]
) -> None:
    """The per-message error boundary: a bad message is rejected with a reason; nothing escapes.

    When the broker does not take the output (a timeout, a lost connection, no leader), the
    message is handled again after a growing pause, for as long as that lasts: its offset is
    not committed meanwhile, and every effect is idempotent by id. An agent held this way for
    long is reported and, in the end, restarts the worker (`workers/stuck_events.py`).
    """
    attempt = 0
    while True:
        try:
            await _handle_or_reject(runtime, event, handle)
            return
        except DeliveryFailed as failure:
            delay = runtime.delivery_backoff.delay(attempt)
            attempt += 1
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
        await handle(event)
    except RefusedAt as refusal:
        await _reject_safely(runtime, refusal.source, refusal.code, refusal.message)
    except Refused as refusal:
        await _reject_safely(runtime, source_of(event), refusal.code, refusal.message)
    except Exception as error:
        if delivery_failure(error):
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
        log.exception("agent failed on a message", topic=event.message.topic)
        await _reject_safely(
            runtime,
            source_of(event),
            RejectionCode.INTERNAL_ERROR,
            f"{type(error).__name__}: {error}",
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

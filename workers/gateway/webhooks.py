"""Pushes each recipient's tasks to its webhook, signed by the Standard Webhooks convention.

Every recipient has its own consumer group on its own topic, its own concurrency limit and
circuit breaker, so a slow or dead agency delays no other. An offset is committed only once
every message before it was answered 2xx or finally failed (then a `delivery_failed`
escalation is written; the task stays open): a restart resumes where it was and sends a
message again only with the same `webhook-id`.
"""

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from standardwebhooks import Webhook

from events.codec import encode
from events.connection import KafkaConnection
from events.offsets import StartUncommittedAtZero
from schemas.audit import DisclosureChannel
from schemas.escalation import Escalation, EscalationReason
from schemas.gateway_event import GatewayEvent
from workers.gateway.disclosure import Send, disclosure_record, worker_facts
from workers.gateway.metrics import GatewayMetrics, Outcome
from workers.gateway.output_records import BadRecord, checked, skipped
from workers.gateway.read_model import ReadModel
from workers.gateway.webhook_rules import (
    Breaker,
    WebhookTarget,
    backoff,
    retried,
    retry_after,
)

log = structlog.get_logger("gvi.gateway.webhooks")
WEBHOOK_AUDIT_NAMESPACE = uuid.UUID("8f3a1c52-7d64-5e0b-9a2c-4b5d6e7f8091")


def webhook_id(view: dict[str, Any]) -> str:
    """The idempotency id of a task's message: the task id and what it discloses (sent,
    cancelled), the same on every re-send."""
    return f"{view['task_id']}.{view['status']}"


def signed_request(
    signer: Webhook, view: dict[str, Any], now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body (`type`, `timestamp`, `data`) and the Standard Webhooks headers of one task."""
    message_id = webhook_id(view)
    body = json.dumps(
        {"type": f"task.{view['status']}", "timestamp": now.isoformat(), "data": view},
        separators=(",", ":"),
    )
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(message_id, now, body),
    }
    return body.encode("utf-8"), headers


class RecipientWebhook:
    """The delivery of one recipient's tasks."""

    def __init__(
        self,
        recipient: str,
        target: WebhookTarget,
        secret: str,
        client: httpx.AsyncClient,
        send: Send,
        model: ReadModel,
        events_topic: str,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.recipient = recipient
        self.target = target
        self.signer = Webhook(secret)
        self.client = client
        self.send = send
        self.model = model
        self.events_topic = events_topic
        self.metrics = metrics or GatewayMetrics()
        self.breaker = Breaker(target.breaker_failures, target.breaker_open_seconds)
        self.chance = random.Random()

    async def run(self, kafka: KafkaConnection, topic: str, group_id: str) -> None:
        consumer = AIOKafkaConsumer(
            **kafka.aiokafka(),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=3_600_000,  # a dead agency's retries may hold a window long
            # A replica that died without leaving (SIGKILL) is noticed within 6 s (the
            # brokers' smallest session), so another one takes its partitions soon after.
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_500,
            rebalance_timeout_ms=10_000,
        )
        await consumer.start()
        consumer.subscribe([topic], listener=StartUncommittedAtZero(consumer))
        try:
            while True:
                batches = await consumer.getmany(
                    timeout_ms=500, max_records=self.target.concurrency * 4
                )
                for partition, messages in batches.items():
                    await self._deliver_in_order(consumer, partition, messages)
        finally:
            await consumer.stop()

    async def _deliver_in_order(
        self, consumer: AIOKafkaConsumer, partition: TopicPartition, messages: list[ConsumerRecord]
    ) -> None:
        """Deliver `concurrency` messages at a time; commit past each window once every message
        in it has its final outcome."""
        step = self.target.concurrency
        for start in range(0, len(messages), step):
            if partition not in consumer.assignment():
                # Another replica took the partition in a rebalance; it resumes from the last
                # commit, so the rest of this batch is its to send.
                return
            window = messages[start : start + step]
            await asyncio.gather(*(self.deliver(self._view(message)) for message in window))
            await self._commit_past(consumer, partition, window[-1].offset + 1)

    async def _commit_past(
        self, consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        """Commit `offset`; a rebalance that began meanwhile refuses it, which is not an
        error: the partition's owner in the new generation reads on from the last commit and
        sends what follows again, with the same `webhook-id`."""
        try:
            await consumer.commit({partition: offset})
        except (CommitFailedError, IllegalStateError) as refused:
            log.warning(
                "webhook offset not committed: the group rebalanced",
                recipient=self.recipient,
                partition=partition.partition,
                offset=offset,
                error=type(refused).__name__,
            )

    def _view(self, message: ConsumerRecord) -> dict[str, Any] | None:
        """The task view a record holds; None for a tombstone or a bad record (skipped,
        logged without its content, counted; its offset is committed with the rest)."""
        try:
            return checked("tasks", message.topic, message.value)
        except BadRecord as problem:
            skipped(message.topic, message.partition, message.offset, problem)
            self.metrics.bad_records.labels(message.topic).inc()
            return None

    async def deliver(self, view: dict[str, Any] | None) -> None:
        """Push one task until a 2xx, or until the attempts are spent (then escalate)."""
        if view is None:
            return
        last_error = ""
        for attempt in range(1, self.target.max_attempts + 1):
            await self._circuit_closed()
            status, asked_wait, last_error = await self._attempt(view)
            outcome = self.metrics.attempted(self.recipient, status)
            # Every attempt carried the task: a receiver that answered late (or not at all)
            # may still hold it, so each one is audited, with its number and outcome.
            await self._audit(view, attempt, outcome)
            succeeded = outcome == "delivered"
            self.breaker.record(succeeded, time.monotonic())
            if succeeded:
                log.info("task pushed by webhook", recipient=self.recipient, attempt=attempt)
                return
            if not retried(status) or attempt == self.target.max_attempts:
                break
            pause = (
                asked_wait if asked_wait is not None else backoff(self.target, attempt, self.chance)
            )
            log.warning(
                "webhook attempt failed; retrying",
                recipient=self.recipient,
                attempt=attempt,
                error=last_error,
                retry_in=round(pause, 2),
            )
            await asyncio.sleep(pause)
        await self._escalate(view, last_error)
        self.metrics.webhook_failures.labels(self.recipient).inc()

    async def _circuit_closed(self) -> None:
        """Wait while the recipient's circuit is open (other recipients never wait here)."""
        wait = self.breaker.wait(time.monotonic())
        while wait > 0:
            await asyncio.sleep(wait)
            wait = self.breaker.wait(time.monotonic())

    async def _attempt(self, view: dict[str, Any]) -> tuple[int | None, float | None, str]:
        """One POST: the status (None without an answer), the wait a 429 or 503 asked for,
        and what went wrong."""
        now = datetime.now(UTC)
        body, headers = signed_request(self.signer, view, now)
        try:
            answer = await self.client.post(
                str(self.target.url),
                content=body,
                headers=headers,
                timeout=self.target.timeout_seconds,
            )
        except httpx.TimeoutException:
            return None, None, f"no answer within {self.target.timeout_seconds} s"
        except httpx.TransportError as error:
            return None, None, f"{type(error).__name__}: {error}"
        asked = None
        if answer.status_code in (429, 503):
            asked = retry_after(
                answer.headers.get("retry-after"), now, self.target.longest_backoff_seconds
            )
        return answer.status_code, asked, f"HTTP {answer.status_code}"

    async def _audit(self, view: dict[str, Any], attempt: int, outcome: Outcome) -> None:
        record = disclosure_record(
            view,
            await worker_facts(self.model, view),
            DisclosureChannel.WEBHOOK,
            uuid.uuid5(WEBHOOK_AUDIT_NAMESPACE, f"{webhook_id(view)}:{attempt}"),
            datetime.now(UTC),
            receiver=f"webhook:{self.target.url}",
            attempt=attempt,
            outcome=outcome,
        )
        reported = GatewayEvent(kind="disclosure", audit=record)
        await self.send(self.events_topic, view["task_id"], encode(reported))

    async def _escalate(self, view: dict[str, Any], last_error: str) -> None:
        facts = await worker_facts(self.model, view)
        now = datetime.now(UTC)
        escalation = Escalation(
            task_id=view["task_id"],
            incident_id=facts.get("incident_id") or view.get("incident_id") or "unknown",
            recipient=self.recipient,
            reason=EscalationReason.DELIVERY_FAILED,
            deadline=datetime.fromisoformat(view["deadline"]),
            detected_at=now,
            message=(
                f"the webhook of {self.recipient} did not take task {view['task_id']} "
                f"({view['status']}) in {self.target.max_attempts} attempt(s); last: "
                f"{last_error}. The task stays open; the agency can pull it."
            )[:2000],
            partnership=view.get("partnership"),
        )
        reported = GatewayEvent(kind="delivery_failed", escalation=escalation)
        await self.send(self.events_topic, view["task_id"], encode(reported))
        log.error("webhook delivery failed; escalated", recipient=self.recipient, error=last_error)


def shared_client() -> httpx.AsyncClient:
    """The one HTTP client of the gateway's webhooks: explicit timeouts (each target sets
    its own per request), bounded connections, no redirects followed."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        follow_redirects=False,
    )

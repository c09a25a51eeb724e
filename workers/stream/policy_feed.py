"""The worker's view of `gvi.policies`: every published playbook version, read from the
beginning and kept current, so that intake plans an incident with the version in force at its
report, whichever worker plans it."""

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from events.codec import decode
from events.connection import KafkaConnection
from events.offsets import seek_to_start
from schemas.playbook import PublishedPlaybook
from schemas.rejection import Refused
from workers.core.partnerships import PolicyBook, PublishedPolicy
from workers.core.policy import PolicyInvalid
from workers.core.policy_checks import load_policy_text

log = structlog.get_logger("gvi.policies")


class UnusablePlaybook(Exception):
    """A record of `gvi.policies` that no worker may plan with (skipped and logged)."""


def published_policy(
    raw: bytes | None, offset: int, recipients: frozenset[str] | None = None
) -> PublishedPolicy:
    """Read one record of `gvi.policies`; raises UnusablePlaybook saying why it is unusable.
    `recipients`: the deployment's recipients (their topics exist); a version that names
    another cannot be delivered."""
    try:
        playbook = decode(PublishedPlaybook, raw)
    except Refused as refusal:
        raise UnusablePlaybook(refusal.message) from None
    if hashlib.sha256(playbook.text.encode("utf-8")).hexdigest() != playbook.digest:
        raise UnusablePlaybook("the digest does not match the text")
    try:
        policy = load_policy_text(playbook.text, f"gvi.policies offset {offset}")
    except PolicyInvalid as invalid:
        raise UnusablePlaybook(str(invalid)) from None
    if policy.policy_version != playbook.policy_version:
        raise UnusablePlaybook(
            f"the record says version {playbook.policy_version}, its text {policy.policy_version}"
        )
    unknown = sorted(set(policy.recipient_ids) - recipients) if recipients is not None else []
    if unknown:
        raise UnusablePlaybook(f"recipients without a topic in this deployment: {unknown}")
    return PublishedPolicy(policy, playbook.effective_from, offset)


@dataclass
class PolicyFeed:
    """Reads `gvi.policies` into `book`. `confirmed_at` is a moment before which every record
    the topic held has been read: a version in force at an earlier moment is in the book."""

    kafka: KafkaConnection
    topic: str
    book: PolicyBook
    recipients: frozenset[str]
    refresh_seconds: float = 1.0
    wait_limit_seconds: float = 10.0
    fetch_max_wait_ms: int = 100
    confirmed_at: datetime | None = None
    _wanted: asyncio.Event = field(default_factory=asyncio.Event)
    _refreshed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.kafka.aiokafka(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        await consumer.start()
        partition = TopicPartition(self.topic, 0)
        try:
            consumer.assign([partition])
            # Paused between looks: a fetch in flight holds the connection for up to
            # fetch_max_wait_ms, and the broker answers the look's ListOffsets only after it;
            # every fresh report's first look waited for that (50-200 ms at 10 incidents/s).
            consumer.pause(partition)
            seek_to_start(consumer, [partition])
            while True:
                try:
                    await self._catch_up(consumer, partition)
                except KafkaError as error:
                    log.warning("could not read the playbooks", error=f"{error!r}")
                    await asyncio.sleep(1.0)
                    continue
                self._wanted.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wanted.wait(), self.refresh_seconds)
        finally:
            await consumer.stop()

    async def _catch_up(self, consumer: AIOKafkaConsumer, partition: TopicPartition) -> None:
        started = datetime.now(UTC)
        end = (await consumer.end_offsets([partition]))[partition]
        if await consumer.position(partition) < end:
            consumer.resume(partition)
            try:
                while await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=500)
                    for record in batch.get(partition, ()):
                        self._take(record.value, record.offset)
            finally:
                consumer.pause(partition)
        self.confirmed_at = started
        self._refreshed.set()
        self._refreshed = asyncio.Event()

    def _take(self, raw: bytes | None, offset: int) -> None:
        try:
            published = published_policy(raw, offset, self.recipients)
        except UnusablePlaybook as unusable:
            log.error(
                "a published playbook is unusable; skipped", offset=offset, reason=str(unusable)
            )
            return
        if self.book.add(published):
            log.info(
                "playbook version read",
                policy_version=published.policy.policy_version,
                effective_from=published.effective_from.isoformat(),
            )

    async def knows(self, version: str | None) -> None:
        """Wait until the topic was read once and the book holds `version` (which intake, maybe
        on another worker, chose from the topic): at most the wait limit."""
        if not await self._refreshed_until(
            lambda: (
                self.confirmed_at is not None
                and (version is None or self.book.effective(version) is not None)
            )
        ):
            log.warning("a playbook version named by work is not known", version=version)

    async def current_at(self, moment: datetime) -> None:
        """Wait until every version published before `moment` is read: at most the wait limit,
        and not at all (once the topic was read) for a report time further ahead of this
        machine's clock than that limit, which no wait could confirm; such an incident is
        planned with what is known, and a warning says so."""
        beyond = datetime.now(UTC) + timedelta(seconds=self.wait_limit_seconds)
        if not await self._refreshed_until(
            lambda: (
                self.confirmed_at is not None and (self.confirmed_at >= moment or moment > beyond)
            )
        ) or (self.confirmed_at is not None and self.confirmed_at < moment):
            log.warning(
                "planning without confirming the playbooks up to the report time",
                reported_at=moment.isoformat(),
                confirmed_at=self.confirmed_at.isoformat() if self.confirmed_at else None,
            )

    async def _refreshed_until(self, holds: Callable[[], bool]) -> bool:
        """Ask the reader for a look at the topic until `holds()`; False at the wait limit."""
        deadline = time.monotonic() + self.wait_limit_seconds
        while not holds():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            refreshed = self._refreshed
            self._wanted.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(refreshed.wait(), min(remaining, 1.0))
        return True

"""Producers as outside systems run them: confluent-kafka (librdkafka) with its default settings."""

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaException, Message, Producer


@dataclass(frozen=True)
class Placed:
    """Where the broker put a message."""

    key: str | None
    partition: int
    offset: int


def librdkafka_publish(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[str | bytes | None, bytes | None]],
    **config: str,
) -> list[Placed]:
    """Send (key, value) pairs, in order, with librdkafka's defaults (CRC32 `consistent_random`
    partitioner, its own batching) plus `config` (e.g. `compression.type`); waits for every
    acknowledgement. Returns where each message landed, in the order given."""
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    placed: dict[int, Placed] = {}
    failures: list[str] = []

    def delivered(index: int, error: object, message: Message) -> None:
        if error is not None:
            failures.append(str(error))
            return
        key = message.key()
        placed[index] = Placed(
            key=key.decode("utf-8", errors="replace") if key is not None else None,
            partition=message.partition(),
            offset=message.offset(),
        )

    for index, (key, value) in enumerate(messages):
        producer.produce(
            topic,
            key=key.encode("utf-8") if isinstance(key, str) else key,
            value=value,
            on_delivery=functools.partial(delivered, index),
        )
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures:
        raise KafkaException(f"{remaining} message(s) not delivered; failures: {failures[:3]}")
    return [placed[index] for index in sorted(placed)]


def librdkafka_report(
    bootstrap: str, topic_prefix: str, updates: Iterable[tuple[str, bytes]], **config: str
) -> list[Placed]:
    """Agencies' status updates, each to the status topic of the agency its body names
    (`<prefix>task-updates.<recipient>`), with librdkafka's defaults; places in given order."""
    given = list(updates)
    by_recipient: dict[str, list[int]] = {}
    for index, (_, value) in enumerate(given):
        by_recipient.setdefault(json.loads(value)["recipient"], []).append(index)
    placed: dict[int, Placed] = {}
    for recipient, indexes in by_recipient.items():
        topic = f"{topic_prefix}task-updates.{recipient}"
        sent = librdkafka_publish(bootstrap, topic, [given[i] for i in indexes], **config)
        placed.update(zip(indexes, sent, strict=True))
    return [placed[index] for index in range(len(given))]

"""Producers as outside systems run them: confluent-kafka (librdkafka) with its default settings."""

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
    messages: Iterable[tuple[str | None, bytes | None]],
    **config: str,
) -> list[Placed]:
    """Send (key, value) pairs with librdkafka's defaults (CRC32 `consistent_random` partitioner,
    its own batching) plus `config` (e.g. `compression.type`); waits for every acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    placed: list[Placed] = []
    failures: list[str] = []

    def delivered(error: object, message: Message) -> None:
        if error is not None:
            failures.append(str(error))
            return
        key = message.key()
        placed.append(
            Placed(
                key=key.decode("utf-8") if key is not None else None,
                partition=message.partition(),
                offset=message.offset(),
            )
        )

    for key, value in messages:
        producer.produce(
            topic,
            key=key.encode("utf-8") if key is not None else None,
            value=value,
            on_delivery=delivered,
        )
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures:
        raise KafkaException(f"{remaining} message(s) not delivered; failures: {failures[:3]}")
    return placed

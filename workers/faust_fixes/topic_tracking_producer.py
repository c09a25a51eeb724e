"""An aiokafka producer whose metadata always covers every topic it has a message for."""

from typing import Any

from aiokafka import AIOKafkaProducer


class TopicTrackingProducer(AIOKafkaProducer):  # type: ignore[misc]
    """AIOKafkaProducer that adds each topic to the metadata it keeps before the first send.

    aiokafka 0.14 tracks a topic only when its first send finds it missing from the cached
    metadata. Until then the producer refreshes metadata for all topics; from the first tracked
    topic on, only for the tracked ones, and the other topics drop out of the cache. A message
    queued for such a topic just before that refresh then has no known leader and is never sent:
    its acknowledgement never comes (docs/streams.md, "The producer that forgot a topic").
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracked_topics: set[str] = set()

    def _track(self, topic: str) -> None:
        if topic not in self._tracked_topics:
            self.client.add_topic(topic)
            self._tracked_topics.add(topic)

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        self._track(topic)
        return await super().send(topic, *args, **kwargs)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        self._track(topic)
        return await super().send_batch(batch, topic, partition=partition)

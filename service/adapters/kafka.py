"""Kafka edges: topics, the dead-letter sink, consumer records in and out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from service.service_layer.ingest import DeadLetter, InboundRecord

log = structlog.get_logger(__name__)


async def ensure_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int) -> None:
    """Create missing topics; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", topics=missing, partitions=partitions)
    finally:
        await admin.close()


def inbound(record: Any) -> InboundRecord:
    """An aiokafka ConsumerRecord as the service layer sees it."""
    return InboundRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple((name, value or b"") for name, value in (record.headers or ())),
    )


class KafkaDeadLetters:
    """Publishes the original bytes and headers plus the reason, keyed as the original."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def send(self, letter: DeadLetter) -> None:
        record = letter.record
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
        headers.update(
            {
                "x-error-code": letter.code,
                "x-error-message": letter.message[:4000],
                "x-original-topic": record.topic,
                "x-original-partition": str(record.partition),
                "x-original-offset": str(record.offset),
            }
        )
        await self._broker.publish(
            record.value or b"", topic=self._topic, key=record.key, headers=headers
        )


class KafkaOutboxPublisher:
    """Publishes outbox rows as they were written: value, key = order id, and acks from all."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, topic: str, key: str, payload: bytes, message_id: str) -> None:
        await self._broker.publish(
            payload,
            topic=topic,
            key=key.encode(),
            headers={"content-type": "application/json"},
            correlation_id=message_id,
        )

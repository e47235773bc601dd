"""Kafka edges: topics, the dead-letter sink, consumer records in and out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from service.adapters.outbox import BrokerUnavailable
from service.service_layer.dead_letters import InboundRecord
from schemas.envelope import PRODUCER_HEADER

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


class KafkaOutboxPublisher:
    """Publishes outbox rows as they were written, acked by all in-sync replicas; an error
    that says the broker cannot take messages now is BrokerUnavailable."""

    def __init__(self, broker: KafkaBroker, producer: str) -> None:
        self._broker = broker
        self._producer = producer

    async def publish(
        self, topic: str, key: bytes | None, payload: bytes, message_id: str,
        headers: dict[str, str],
    ) -> None:
        try:
            await self._broker.publish(
                payload,
                topic=topic,
                key=key,
                headers=headers or {
                    "content-type": "application/json", PRODUCER_HEADER: self._producer,
                },
                correlation_id=message_id,
            )
        except Exception as error:
            if unavailable(error):
                raise BrokerUnavailable(repr(error)) from error
            raise


def unavailable(error: BaseException) -> bool:
    """The broker, not the message: retriable Kafka errors, time-outs, lost connections."""
    if isinstance(error, KafkaError):
        return bool(error.retriable) or isinstance(error, KafkaTimeoutError)
    return isinstance(error, (TimeoutError, ConnectionError, OSError, IncorrectState))

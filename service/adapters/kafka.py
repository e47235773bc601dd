"""Kafka edges: security, topics, the outbox publisher, consumer records in."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from schemas.envelope import PRODUCER_HEADER
from service.adapters import trace_context
from service.adapters.outbox import BrokerUnavailable
from service.service_layer.dead_letters import InboundRecord

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class KafkaSecurity:
    """How the service's Kafka clients authenticate: TLS (CA, client certificate) and SASL
    (PLAIN, SCRAM-SHA-256/512), for the broker, the admin client and every producer."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    key_password: str | None = None

    def for_faststream(self) -> BaseSecurity | None:
        if self.protocol == "PLAINTEXT":
            return None
        context = self._ssl_context() if self.protocol.endswith("SSL") else None
        if self.protocol == "SSL":
            return BaseSecurity(ssl_context=context, use_ssl=True)
        mechanism = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256,
                     "SCRAM-SHA-512": SASLScram512}[self.sasl_mechanism or "PLAIN"]
        return mechanism(
            username=self.username or "", password=self.password or "", ssl_context=context,
            use_ssl=self.protocol == "SASL_SSL",
        )

    def client_options(self) -> dict[str, Any]:
        """The same, as keyword arguments of aiokafka's clients (admin, producer)."""
        return parse_security(self.for_faststream())

    def _ssl_context(self) -> ssl.SSLContext:
        return create_ssl_context(
            cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile,
            password=self.key_password,
        )


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[str], partitions: int, *,
    replication_factor: int = 1, min_insync_replicas: int | None = None,
    security: KafkaSecurity | None = None,
) -> None:
    """Create missing topics with their partitions, replication and min.insync.replicas;
    existing ones are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, **(security or KafkaSecurity()).client_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                configs = ({} if min_insync_replicas is None
                           else {"min.insync.replicas": str(min_insync_replicas)})
                await admin.create_topics([
                    NewTopic(name=t, num_partitions=partitions,
                             replication_factor=replication_factor, topic_configs=configs)
                    for t in missing
                ])
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", topics=missing, partitions=partitions,
                     replication_factor=replication_factor)
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
    that says the broker cannot take messages now is BrokerUnavailable.

    `headers` are either a dead letter's own (published as they are) or only the trace
    context the message was written in (added to this service's headers). Either way the
    publication continues the trace they carry.
    """

    def __init__(self, broker: KafkaBroker, producer: str) -> None:
        self._broker = broker
        self._producer = producer

    async def publish(
        self, topic: str, key: bytes | None, payload: bytes, message_id: str,
        headers: dict[str, str],
    ) -> None:
        if headers.keys() <= set(trace_context.TRACE_HEADERS):
            headers = {
                "content-type": "application/json", PRODUCER_HEADER: self._producer, **headers,
            }
        try:
            with trace_context.continued(headers):
                await self._broker.publish(
                    payload, topic=topic, key=key, headers=headers, correlation_id=message_id,
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

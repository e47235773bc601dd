"""Kafka subscribers: translate records, hand them to the service layer, nothing else.

No `from __future__ import annotations` here: FastStream reads the handlers' annotations.
"""


import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from pydantic import BaseModel, WithJsonSchema

from schemas.commands import COMMANDS
from schemas.consumed import CONSUMED
from service.adapters.kafka import inbound
from service.retry import Backoff
from service.service_layer.commands import CommandHandler
from service.service_layer.dead_letters import InboundRecord
from service.service_layer.ingest import Projector

log = structlog.get_logger(__name__)

#: Longer than a group join takes after a kill -9 (the session timeout, 45 s by default).
JOIN_SECONDS = 120.0


class ConsumerGroup:
    """One subscriber's consumer group: joined in the background, its lag reported."""

    def __init__(self, subscriber: Any) -> None:
        self._subscriber = subscriber
        self.joined = False

    @property
    def group_id(self) -> str:
        return str(self._subscriber.group_id)

    async def join(self) -> None:
        """Start the subscriber; its consumer returns once the group gave it partitions."""
        backoff = Backoff(first=0.5, cap=10.0)
        while not self.joined:
            try:
                # after a kill -9 the group waits for the dead member's session to expire
                await asyncio.wait_for(self._subscriber.start(), JOIN_SECONDS)
                self.joined = True
                log.info("consumer group joined", group=self._subscriber.group_id)
            except Exception as error:  # noqa: BLE001 - retried until the group is joined
                delay = backoff.delay()
                log.warning("consumer group not joined, retrying", error=repr(error),
                            group=self._subscriber.group_id, retry_in=delay)
                await self._subscriber.stop()
                await asyncio.sleep(delay)

    async def state(self) -> dict[str, Any]:
        """Joined or not, and the lag per assigned partition (high watermark - position)."""
        consumer = getattr(self._subscriber, "consumer", None)
        if not self.joined or consumer is None:
            return {"joined": False, "lag": None, "partitions": {}}
        partitions: dict[str, int] = {}
        for partition in sorted(consumer.assignment()):
            highwater = consumer.highwater(partition)
            try:
                position = await asyncio.wait_for(consumer.position(partition), 0.2)
            except Exception:  # noqa: BLE001 - not known yet (or timed out): not reported
                continue
            if highwater is not None:
                partitions[f"{partition.topic}/{partition.partition}"] = max(
                    highwater - position, 0
                )
        return {"joined": True, "lag": sum(partitions.values()), "partitions": partitions}


async def _records(message: Any) -> list[InboundRecord]:
    """The batch's records, bytes unread: the service layer reads them itself so that bad
    input is dead-lettered. Handlers take them as their only argument: a context argument
    (the message) would be resolved in a worker thread, once per batch."""
    return [inbound(record) for record in message.raw_message]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A self-contained copy of a pydantic JSON Schema (the wire models have no cycles)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _documented_records(
    title: str, description: str, models: Mapping[str, type[BaseModel]]
) -> Any:
    """A record for the handler, documented in AsyncAPI as one of the wire models."""
    return Annotated[
        Any,
        WithJsonSchema(
            {
                "title": title,
                "description": description,
                "oneOf": [inline_refs(model.model_json_schema()) for model in models.values()],
            }
        ),
    ]


def register_projection(
    broker: KafkaBroker,
    projector: Projector,
    *,
    group_id: str,
    max_records: int,
    batch_timeout_ms: int,
    fetch_max_wait_ms: int = 100,
) -> ConsumerGroup:
    """One batch subscriber over every consumed topic: one consumer group, one join.

    Offsets are committed after the handler returns, that is after the database commit;
    on an error the batch is sought back and read again. A fetch waits at the broker at
    most `fetch_max_wait_ms`: a broker that holds a fetch that long even when records are
    there stalls the consumer no longer than that.
    """
    Payload = _documented_records(
        "MCOM message", "A JSON-RPC 2.0 message whose method is the topic name", CONSUMED
    )

    async def project_oms_events(records: list[Payload]) -> None:  # type: ignore[valid-type]
        await projector.handle(records)

    subscriber = broker.subscriber(
        *CONSUMED,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        fetch_max_wait_ms=fetch_max_wait_ms,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records,
        title="oms-events",
        description="MCOM order, return, refund and shipment events, folded into the projection",
    )
    subscriber(project_oms_events)
    return ConsumerGroup(subscriber)


def register_commands(
    broker: KafkaBroker, handler: CommandHandler, *, group_id: str, max_records: int = 200,
    concurrency: int = 4, fetch_max_wait_ms: int = 100,
) -> ConsumerGroup:
    """MCOM's appeasement command and the PSP's refund outcomes, in batches: one order's
    commands one after the other, `concurrency` orders side by side.

    One group for all of them, so a start costs one group join; a batch's offsets are
    committed once each of its decisions (and their replies in the outbox) is committed;
    a redelivered command is answered as it was the first time.
    """
    Payload = _documented_records(
        "Command", "A JSON-RPC 2.0 command whose method is the topic name", COMMANDS
    )

    async def handle_commands(records: list[Payload]) -> None:  # type: ignore[valid-type]
        await handler.handle_many(records, concurrency=concurrency)

    subscriber = broker.subscriber(
        *COMMANDS,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=20,
        fetch_max_wait_ms=fetch_max_wait_ms,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records,
        title="appeasement-commands",
        description="Grant appeasements (MCOM appeasement_management.create) and follow the "
        "PSP's release / cancel of their refunds",
    )
    subscriber(handle_commands)
    return ConsumerGroup(subscriber)


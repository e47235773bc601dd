"""Helpers for appeasement tests: orders on the bus, grants over HTTP, events off the topic."""

from __future__ import annotations

import json
from typing import Any

import httpx

from schemas import consumed as wire
from schemas.published import REFUND_UPDATED
from service.service_layer import ids
from tests.builders import order
from tests.conftest import Publish, balance_when, bearer, read_topic

AGENT = bearer("agent-token")
LEAD = bearer("lead-token")
LEAD_2 = bearer("lead2-token")
MANAGER = bearer("manager-token")
INTERN = bearer("intern-token")
LEAD_AS_AGENT = bearer("lead-as-agent-token")


async def given_order(
    api: httpx.AsyncClient, publish: Publish, order_id: str, lines: list[dict[str, Any]],
    **options: Any,
) -> dict[str, Any]:
    """Publish the order on the bus and wait until its balance is served."""
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines, **options)}, key=order_id)
    return await balance_when(api, order_id)


async def grant(
    api: httpx.AsyncClient, order_id: str, body: dict[str, Any], *,
    key: str | None = None, caller: dict[str, str] = MANAGER,
) -> httpx.Response:
    headers = {**caller, "Idempotency-Key": key or ids.message_id()}
    return await api.post(f"/v1/orders/{order_id}/appeasements", json=body, headers=headers)


async def preview(
    api: httpx.AsyncClient, order_id: str, body: dict[str, Any], *,
    caller: dict[str, str] = MANAGER,
) -> httpx.Response:
    return await api.post(
        f"/v1/orders/{order_id}/appeasements/preview", json=body, headers=caller
    )


def allocation(body: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(line, bucket, gross, net, tax) of each allocated piece."""
    return [(a["order_line"], a["bucket"], a["gross"], a["net"], a["tax"])
            for a in body["allocation"]]


async def published(
    bootstrap: str, appeasement_id: str, status: str = "PENDINGRELEASE", timeout: float = 15.0
) -> dict[str, Any]:
    """The refund event published for that appeasement in that status."""

    def match(record: Any) -> bool:
        refund = json.loads(record.value).get("params", {}).get("refund", {})
        return (
            refund.get("credit_note_number") == appeasement_id
            and refund.get("status", {}).get("code") == status
        )

    record = await read_topic(bootstrap, REFUND_UPDATED, match, timeout)
    return {"key": record.key.decode(), "message": json.loads(record.value)}


async def read_all(
    bootstrap: str, topic: str, match: Any, settle: float = 1.5, timeout: float = 20.0
) -> list[Any]:
    """Every record of `topic` that `match` accepts, once no new one came for `settle` s."""
    import asyncio
    import time

    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < settle:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    quiet_since = time.monotonic()
                    if match(record):
                        found.append(record)
            await asyncio.sleep(0)
        return found
    finally:
        await consumer.stop()


def refund_of(record: Any) -> dict[str, Any]:
    return json.loads(record.value).get("params", {}).get("refund", {})

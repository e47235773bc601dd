"""Grant -> event latency: from the grant's HTTP call to its refund event read off the topic.

1,000 orders are projected first; then one grant per order, one after the other. Each
sample runs from the POST until a consumer reading the refund topic sees the event, so it
includes the decision transaction, the relay's wake-up by LISTEN/NOTIFY, the broker's
acknowledged write and the consumer's fetch.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.harness import running
from schemas.consumed import ORDER_CREATED
from schemas.examples import order, request
from schemas.published import REFUND_UPDATED
from service.entrypoints import http
from service.settings import Settings

GRANT = {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}
CALLER = {"Authorization": "Bearer bench-token"}


async def grant_to_event_latency(settings: Settings, grants: int = 1_000) -> dict[str, Any]:
    async with running(settings) as service:
        order_ids = await _project_orders(settings, service, grants)
        seen: dict[str, float] = {}
        arrived = asyncio.Event()
        assigned = asyncio.Event()
        watcher = asyncio.create_task(_watch(settings, seen, arrived, assigned))
        await asyncio.wait_for(assigned.wait(), 60)
        app = _app(service)
        samples: list[float] = []
        answers: list[float] = []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as api:
            for order_id in order_ids:
                started = time.perf_counter()
                response = await api.post(
                    f"/v1/orders/{order_id}/appeasements", json=GRANT,
                    headers={**CALLER, "Idempotency-Key": str(uuid.uuid4())},
                )
                answered = time.perf_counter()
                assert response.status_code == 201, response.text
                appeasement_id = response.json()["id"]
                while appeasement_id not in seen:
                    arrived.clear()
                    await asyncio.wait_for(arrived.wait(), 30)
                samples.append(seen[appeasement_id] - started)
                answers.append(answered - started)
        watcher.cancel()
    return {
        "grants": grants,
        "grant_to_event_ms": _percentiles(samples),
        "grant_http_ms": _percentiles(answers),
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50": round(cuts[49] * 1000, 2),
        "p90": round(cuts[89] * 1000, 2),
        "p99": round(cuts[98] * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def _app(service: Any) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    app.state.service = service
    http.install(app, service.settings)
    return app


async def _project_orders(settings: Settings, service: Any, count: int) -> list[str]:
    run = uuid.uuid4().hex[:6].upper()
    order_ids = [f"LAT-{run}-{number:05d}" for number in range(count)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        for order_id in order_ids:
            body = json.dumps(request(ORDER_CREATED, {"order": order(order_id)}, str(uuid.uuid4())))
            await producer.send(ORDER_CREATED, body.encode(), key=order_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    pool = service.database.pool
    while await pool.fetchval(
        "SELECT count(*) FROM orders WHERE known AND order_id LIKE $1", f"LAT-{run}-%"
    ) < count:
        await asyncio.sleep(0.1)
    return order_ids


async def _watch(
    settings: Settings, seen: dict[str, float], arrived: asyncio.Event, assigned: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        REFUND_UPDATED, bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"bench-watch-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=50)
            if consumer.assignment():
                assigned.set()
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    refund = json.loads(record.value).get("params", {}).get("refund", {})
                    if refund.get("refund_type") == "Appeasement":
                        seen[refund["credit_note_number"]] = now
                        arrived.set()
    finally:
        await consumer.stop()

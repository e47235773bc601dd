"""Projection throughput: MCOM order events per second, broker to committed projection.

N order snapshots are published first; the clock runs from the service's start until the
last one is in the inbox, so the figure includes the consumer group join (about 5 s on tansu),
reported separately.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaProducer

from bench.harness import running
from schemas.consumed import ORDER_CREATED
from schemas.examples import order, request
from service.adapters.kafka import ensure_topics
from service.settings import Settings


async def projection_throughput(settings: Settings, events: int = 20_000) -> dict[str, float]:
    assert settings.kafka_bootstrap_servers
    await ensure_topics(settings.kafka_bootstrap_servers, [ORDER_CREATED], settings.topic_partitions)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        for number in range(events):
            order_id = f"BENCH-{number:07d}"
            body = json.dumps(request(ORDER_CREATED, {"order": order(order_id)}, f"bench-{number}"))
            await producer.send(ORDER_CREATED, body.encode(), key=order_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    started = time.perf_counter()
    async with running(settings) as service:
        joined = time.perf_counter()
        pool = service.database.pool
        first_seen = None
        while True:
            count = await pool.fetchval("SELECT count(*) FROM inbox WHERE message_id LIKE 'bench-%'")
            if count and first_seen is None:
                first_seen = time.perf_counter()
            if count >= events:
                break
            await asyncio.sleep(0.05)
        finished = time.perf_counter()
    consuming = finished - (first_seen or joined)
    return {
        "events": events,
        "start_and_join_s": round(joined - started, 2),
        "consume_s": round(consuming, 2),
        "events_per_s": round(events / consuming),
    }

"""Projection throughput: MCOM order events per second, broker to committed projection.

N order snapshots are published first; the rate runs from the first event in the inbox to
the last, watched from before the service starts (so that consumption that begins while
another consumer group still joins is counted); the start and the group join are reported
separately.
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
    progress = asyncio.create_task(_first_and_last(settings, events))
    started = time.perf_counter()
    async with running(settings):
        joined = time.perf_counter()
        first_seen, finished = await progress
    consuming = finished - first_seen
    return {
        "events": events,
        "start_and_join_s": round(joined - started, 2),
        "first_event_after_start_s": round(first_seen - started, 2),
        "consume_s": round(consuming, 2),
        "events_per_s": round(events / consuming),
    }


async def _first_and_last(settings: Settings, events: int) -> tuple[float, float]:
    """When the first and the last of the events reached the inbox, watched from before the
    service starts: consumption that begins while another consumer group still joins counts."""
    import asyncpg

    connection = await asyncpg.connect(settings.database_url)
    try:
        first_seen = None
        while True:
            count = await connection.fetchval(
                "SELECT count(*) FROM inbox WHERE message_id LIKE 'bench-%'"
            ) if await connection.fetchval("SELECT to_regclass('inbox')") else 0
            now = time.perf_counter()
            if count and first_seen is None:
                first_seen = now
            if count >= events:
                return first_seen or now, now
            await asyncio.sleep(0.05)
    finally:
        await connection.close()

"""Projection throughput beside its baselines, in one run on one prefilled topic.

20,000 MCOM order snapshots of 3 lines plus 5 % duplicates (the same message id again) on
3 partitions, then:

(a) raw drain: a plain aiokafka consumer reads the topic with `getmany` and decodes every
    value with the service's own JSON decoder; nothing else.
(b) the service (its own process) folds the topic into the projection: from the first inbox
    row to the last, watched from before it starts; CPU seconds of the service and of
    PostgreSQL per 1,000 events; the batch sizes it reached.
(c) naive floor: one transaction per event and an offset commit per event, through the same
    projector, on a sample of fresh orders.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer

from bench.harness import order_message, publish, say, service_process
from schemas.consumed import ORDER_CREATED
from schemas.envelope import decode_json
from service.adapters.db import Database
from service.adapters.kafka import ensure_topics, inbound
from service.service_layer.ingest import Projector
from service.settings import Settings

FLOOR_TOPIC = "bench.naive_floor"


async def projection_throughput(
    settings: Settings, events: int = 20_000, duplicates: float = 0.05, floor_events: int = 1_500
) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers or ""
    await ensure_topics(bootstrap, [ORDER_CREATED, FLOOR_TOPIC], settings.topic_partitions)
    messages = [(f"BENCH-{n:07d}", order_message(f"BENCH-{n:07d}", f"bench-{n}"))
                for n in range(events)]
    rng = random.Random(7)
    for _ in range(int(events * duplicates)):
        messages.insert(rng.randrange(len(messages)), messages[rng.randrange(events)])
    records = await publish(bootstrap, ORDER_CREATED, messages, label="projection topic")
    last_published = [f"bench-{int(key.removeprefix('BENCH-'))}" for key, _ in messages[-60:]]
    say(f"projection: {records} records ({records - events} duplicates) on {ORDER_CREATED}")

    raw = await _raw_drain(bootstrap, records)
    say(f"(a) raw drain: {raw['events_per_s']} msg/s")
    projected = await _service_projection(settings, events, last_published)
    say(f"(b) service projection: {projected['events_per_s']} events/s")
    floor = await _naive_floor(settings, floor_events)
    say(f"(c) naive floor: {floor['events_per_s']} events/s")
    return {
        "records": records,
        "unique_events": events,
        "raw_drain": raw,
        "service": projected,
        "naive_floor": floor,
        "service_vs_raw": round(projected["events_per_s"] / raw["events_per_s"], 3),
        "service_vs_floor": round(projected["events_per_s"] / floor["events_per_s"], 1),
    }


async def _raw_drain(bootstrap: str, records: int) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        ORDER_CREATED, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < records:
            batches = await consumer.getmany(timeout_ms=500, max_records=2_000)
            for batch in batches.values():
                if started is None:
                    started = time.perf_counter()
                for record in batch:
                    decode_json(record.value)
                seen += len(batch)
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
    return {"events_per_s": round(records / elapsed), "seconds": round(elapsed, 2)}


async def _service_projection(
    settings: Settings, events: int, last_published: list[str]
) -> dict[str, Any]:
    postgres = _postmaster(settings)
    watch = asyncio.create_task(
        _first_and_last(settings.database_url or "", events, last_published)
    )
    started = time.perf_counter()
    async with service_process(settings) as service:
        joined = time.perf_counter()
        cpu_before = service.cpu_seconds()
        db_before = _cpu(postgres)
        first_seen, finished = await watch
        cpu = service.cpu_seconds() - cpu_before
        db_cpu = _cpu(postgres) - db_before
        batches = await service.metric("appeasement_projection_batch_records")
    consuming = finished - first_seen
    count = batches.get("appeasement_projection_batch_records_count", 0)
    total = batches.get("appeasement_projection_batch_records_sum", 0)
    return {
        "events_per_s": round(events / consuming),
        "seconds": round(consuming, 2),
        "start_and_join_s": round(joined - started, 2),
        "service_cpu_s_per_1000": round(cpu / events * 1000, 3),
        "postgres_cpu_s_per_1000": round(db_cpu / events * 1000, 3),
        "batches": int(count),
        "mean_batch_records": round(total / count, 1) if count else 0,
        "batch_records_histogram": {
            key.split('le="')[1].rstrip('"}'): int(value)
            for key, value in batches.items() if "_bucket" in key
        },
    }


async def _naive_floor(settings: Settings, events: int) -> dict[str, Any]:
    """One record, one transaction, one offset commit: what batching is measured against."""
    bootstrap = settings.kafka_bootstrap_servers or ""
    await publish(bootstrap, FLOOR_TOPIC, [
        (f"FLOOR-{n:06d}", order_message(f"FLOOR-{n:06d}", f"floor-{n}")) for n in range(events)
    ])
    database = Database(settings.database_url or "")
    await database.connect()
    projector = Projector(database, settings.projection_rules(),
                          dead_letter_topic=settings.dead_letter_topic, consumer="naive-floor")
    consumer = AIOKafkaConsumer(
        FLOOR_TOPIC, bootstrap_servers=bootstrap, group_id=f"floor-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        done = 0
        started = None
        while done < events:
            record = await consumer.getone()
            started = started or time.perf_counter()
            await projector.handle([inbound(record)])
            await consumer.commit()
            done += 1
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await database.close()
    return {"events": events, "events_per_s": round(events / elapsed, 1),
            "seconds": round(elapsed, 2)}


async def _first_and_last(
    database_url: str, events: int, last_published: list[str]
) -> tuple[float, float]:
    """When the first and the last event reached the inbox, watched from before the service
    starts (so consumption that begins while another consumer group still joins counts).

    Watched with index lookups, not by counting the inbox every time, so that the watch
    costs PostgreSQL next to nothing: the end is near when the messages published last
    (among them the last of each partition) are in; then the inbox is counted."""
    watched = len(set(last_published))
    connection = await asyncpg.connect(database_url)
    try:
        first_seen = None
        reported = time.perf_counter()
        while True:
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            if first_seen is None:
                # before the service's migrations there is no inbox yet
                if await connection.fetchval(_INBOX_EXISTS) and await connection.fetchval(
                    _ANY_BENCH_ROW
                ):
                    first_seen = now
                continue
            near_end = await connection.fetchval(_HOW_MANY_OF, last_published) == watched
            if near_end and await connection.fetchval(_ALL_BENCH_ROWS) >= events:
                return first_seen, now
            if now - reported >= 1.0:
                reported = now
                say(f"(b) service projection: {await connection.fetchval(_ALL_BENCH_ROWS)} "
                    f"of {events} in the inbox")
    finally:
        await connection.close()


_INBOX_EXISTS = "SELECT to_regclass('inbox') IS NOT NULL"
_ANY_BENCH_ROW = "SELECT EXISTS (SELECT 1 FROM inbox WHERE message_id LIKE 'bench-%')"
_ALL_BENCH_ROWS = "SELECT count(*) FROM inbox WHERE message_id LIKE 'bench-%'"
_HOW_MANY_OF = (
    "SELECT count(*) FROM inbox WHERE consumer = 'projection' AND message_id = ANY($1::text[])"
)


def _postmaster(settings: Settings) -> psutil.Process | None:
    pid_file = Path(settings.run_dir) / "pgdata" / "postmaster.pid"
    try:
        return psutil.Process(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, psutil.Error):
        return None


def _cpu(postmaster: psutil.Process | None) -> float:
    """CPU seconds of the PostgreSQL server and its backends."""
    if postmaster is None:
        return 0.0
    total = 0.0
    for process in [postmaster, *postmaster.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total

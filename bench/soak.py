"""Memory over a soak: 100 grants/s over HTTP plus 1,000 OMS events/s on the bus, for
BENCH_SOAK_SECONDS (default 600); the service's RSS and CPU sampled every 5 s."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.grants import GRANT
from bench.harness import (
    CALLER,
    order_message,
    percentiles,
    publish,
    say,
    service_process,
    wait_for_orders,
)
from bench.load import open_loop, steadily
from schemas.consumed import ORDER_CREATED, ORDER_UPDATED
from service.settings import Settings

GRANTS_PER_S = 100
EVENTS_PER_S = 1_000
ORDERS = 200


async def memory_soak(settings: Settings) -> dict[str, Any]:
    seconds = float(os.environ.get("BENCH_SOAK_SECONDS", "600"))
    bootstrap = settings.kafka_bootstrap_servers or ""
    run = uuid.uuid4().hex[:6].upper()
    orders = [f"S-{run}-{n:04d}" for n in range(ORDERS)]
    async with service_process(settings) as service:
        await publish(bootstrap, ORDER_CREATED,
                      [(o, order_message(o, str(uuid.uuid4()))) for o in orders])
        await wait_for_orders(settings.database_url or "", f"S-{run}-", ORDERS)
        connections = service.connections()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                    max_batch_size=262_144)
        await producer.start()
        samples: list[tuple[float, float, float]] = []
        statuses: dict[int, int] = {}
        accepted: list[float] = []
        shed_by_minute: dict[int, int] = {}
        started = time.perf_counter()

        async def grant(number: int, scheduled: float) -> None:
            answer = await connections.post(
                f"/v1/orders/{orders[number % ORDERS]}/appeasements", GRANT,
                {**CALLER, "Idempotency-Key": str(uuid.uuid4())},
            )
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            if answer.status == 201:
                accepted.append(time.perf_counter() - scheduled)
            elif answer.status == 503:
                minute = int((scheduled - started) // 60)
                shed_by_minute[minute] = shed_by_minute.get(minute, 0) + 1

        async def event(number: int, scheduled: float) -> None:
            order_id = f"S-{run}-E{number % 5_000:05d}"
            await producer.send(ORDER_UPDATED, order_message(order_id, str(uuid.uuid4())),
                                key=order_id.encode())

        async def sample() -> None:
            while True:
                samples.append((time.perf_counter() - started, service.rss_mb(),
                                service.cpu_seconds()))
                if len(samples) % 12 == 0:
                    say(f"soak: {samples[-1][0]:.0f} of {seconds:.0f} s, "
                        f"RSS {samples[-1][1]:.0f} MB")
                await asyncio.sleep(5)

        sampler = asyncio.create_task(sample())
        try:
            grants, events = await asyncio.gather(
                open_loop(GRANTS_PER_S, seconds, grant), steadily(EVENTS_PER_S, seconds, event)
            )
        finally:
            sampler.cancel()
            await producer.stop()
            await connections.close()
        samples.append((time.perf_counter() - started, service.rss_mb(), service.cpu_seconds()))
    rss = [mb for _, mb, _ in samples]
    first_of_each_minute: dict[int, tuple[float, float, float]] = {}
    for sample in samples:
        first_of_each_minute.setdefault(int(sample[0] // 60), sample)
    minutes = list(first_of_each_minute.values())
    return {
        "seconds": seconds,
        "grants_offered": grants.sent,
        "grant_answers": statuses,
        "generator_late_ms": round(grants.late * 1000, 1),
        "accepted_answer_ms": percentiles(accepted),
        "shed_by_minute": [shed_by_minute.get(minute, 0) for minute in range(int(seconds // 60))],
        "events_offered": events.sent,
        "events_late_s": round(events.late, 1),
        "rss_mb": {"start": round(rss[0], 1), "peak": round(max(rss), 1),
                   "end": round(rss[-1], 1)},
        "rss_mb_by_minute": [round(mb, 1) for _, mb, _ in minutes],
        # the service's CPU from one minute's first sample to the next, in cores
        "service_cpu_cores_by_minute": [
            round((cpu - earlier_cpu) / (at - earlier_at), 2)
            for (earlier_at, _, earlier_cpu), (at, _, cpu) in itertools.pairwise(minutes)
        ],
    }

"""Grants over HTTP, open loop: 100, 300, 500 and 1,000 grants/s for 20 s each over 200
orders, plus one hot order taking 20 grants/s throughout; after a warm-up of 3 s at 50/s that
is not counted (the service's and this generator's first calls of every path).

For each rate: answers by status, p50 / p95 / p99 / max of the answer (accepted grants and
503 OVERLOADED apart) and of grant -> refund event seen by a consumer of the refund topic.
The service runs as its own process; the load and the watching consumer run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.harness import (
    CALLER,
    ServiceProcess,
    order_message,
    percentiles,
    publish,
    say,
    service_process,
    wait_for_orders,
)
from bench.load import open_loop
from schemas.consumed import ORDER_CREATED
from schemas.published import REFUND_UPDATED
from service.settings import Settings

RATES = tuple(int(rate) for rate in os.environ.get("BENCH_RATES", "100,300,500,1000").split(","))
SECONDS = 20.0
WARM_UP_RATE, WARM_UP_SECONDS = 50, 3.0
ORDERS = 200
HOT_RATE = 20
#: One cent off the products per grant: a run never exhausts an order's balance.
GRANT = json.dumps({"reason": "ARTICLE_DEFECTIVE", "amounts": {"product": "0.01"}}).encode()


class EventWatch:
    """Reads the refund topic and notes when each appeasement's first event arrived."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: dict[str, float] = {}
        self._bootstrap = bootstrap
        self._task: asyncio.Task[None] | None = None
        self.assigned = asyncio.Event()

    async def __aenter__(self) -> EventWatch:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.assigned.wait(), 60)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            REFUND_UPDATED, bootstrap_servers=self._bootstrap,
            group_id=f"bench-watch-{uuid.uuid4().hex[:6]}", auto_offset_reset="latest",
            fetch_max_wait_ms=5,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=50)
                if consumer.assignment():
                    self.assigned.set()
                now = time.perf_counter()
                for records in batches.values():
                    for record in records:
                        refund = json.loads(record.value)["params"]["refund"]
                        self.seen.setdefault(refund["credit_note_number"], now)
        finally:
            await consumer.stop()

    async def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not ids <= self.seen.keys() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)


async def grant_latency(settings: Settings) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers or ""
    run = uuid.uuid4().hex[:6].upper()
    orders = [f"G-{run}-{n:04d}" for n in range(ORDERS)]
    hot = f"G-{run}-HOT"
    async with service_process(settings) as service:
        await publish(bootstrap, ORDER_CREATED,
                      [(o, order_message(o, str(uuid.uuid4()))) for o in [*orders, hot]])
        await wait_for_orders(settings.database_url or "", f"G-{run}-", ORDERS + 1)
        say(f"grants: {ORDERS + 1} orders projected")
        results: dict[str, Any] = {}
        async with EventWatch(bootstrap) as watch:
            await _warm_up(service, orders)
            for rate in RATES:
                results[f"{rate}_per_s"] = await _step(service, watch, orders, hot, rate)
                step = results[f"{rate}_per_s"]
                say(f"grants at {rate}/s: {step['answers']}, accepted answer p99 "
                    f"{step['answer_ms'].get('p99')} ms, grant -> event p99 "
                    f"{step['grant_to_event_ms'].get('p99')} ms")
        results["rss_mb_end"] = round(service.rss_mb(), 1)
    return results


async def _warm_up(service: ServiceProcess, orders: list[str]) -> None:
    connections = service.connections()

    async def grant(number: int, scheduled: float) -> None:
        await connections.post(f"/v1/orders/{orders[number % len(orders)]}/appeasements", GRANT,
                               {**CALLER, "Idempotency-Key": str(uuid.uuid4())})

    await open_loop(WARM_UP_RATE, WARM_UP_SECONDS, grant)
    await connections.close()
    say(f"grants: warmed up, {WARM_UP_RATE}/s for {WARM_UP_SECONDS:.0f} s")


async def _step(
    service: ServiceProcess, watch: EventWatch, orders: list[str], hot: str, rate: int
) -> dict[str, Any]:
    connections = service.connections()
    statuses: Counter[str] = Counter()
    accepted: list[float] = []
    shed: list[float] = []
    hot_answers: list[float] = []
    granted: dict[str, float] = {}
    hot_granted: dict[str, float] = {}
    retry_after: set[str] = set()

    async def grant(order_id: str, scheduled: float, hot_order: bool) -> None:
        answer = await connections.post(
            f"/v1/orders/{order_id}/appeasements", GRANT,
            {**CALLER, "Idempotency-Key": str(uuid.uuid4())},
        )
        elapsed = time.perf_counter() - scheduled
        statuses[str(answer.status)] += 1
        if answer.status == 201:
            (hot_answers if hot_order else accepted).append(elapsed)
            (hot_granted if hot_order else granted)[answer.json()["id"]] = scheduled
        elif answer.status == 503:
            shed.append(elapsed)
            retry_after.add(answer.headers.get("retry-after", "-"))

    async def spread(number: int, scheduled: float) -> None:
        await grant(orders[number % len(orders)], scheduled, False)

    async def hot_order(number: int, scheduled: float) -> None:
        await grant(hot, scheduled, True)

    served_before = await _served_over_a_second(service)
    offers = await asyncio.gather(
        open_loop(rate, SECONDS, spread), open_loop(HOT_RATE, SECONDS, hot_order)
    )
    served_after = await _served_over_a_second(service)
    await watch.wait_for({*granted, *hot_granted}, timeout=60)
    await connections.close()
    to_event = [watch.seen[i] - at for i, at in granted.items() if i in watch.seen]
    hot_to_event = [watch.seen[i] - at for i, at in hot_granted.items() if i in watch.seen]
    return {
        "offered": offers[0].sent,
        "answers": dict(statuses),
        "connection_failures": offers[0].failed + offers[1].failed,
        "connections_opened": connections.opened,
        "slowest_connection_open_ms": round(connections.slowest_open * 1000, 1),
        "generator_late_ms": round(max(offer.late for offer in offers) * 1000, 1),
        "answer_ms": percentiles(accepted),
        # by the service's own clock, from the request's arrival in the app to its answer
        "served_grants": served_after[0] - served_before[0],
        "served_grants_over_1s": served_after[1] - served_before[1],
        "overloaded_answer_ms": percentiles(shed),
        "retry_after": sorted(retry_after),
        "grant_to_event_ms": percentiles(to_event),
        "events_missing": len(granted) + len(hot_granted) - len(to_event) - len(hot_to_event),
        "hot_order": {"answer_ms": percentiles(hot_answers),
                      "grant_to_event_ms": percentiles(hot_to_event)},
    }


async def _served_over_a_second(service: ServiceProcess) -> tuple[int, int]:
    """Grants the service has answered, and how many of them took it more than a second
    (its request duration histogram for the grant route)."""
    buckets = await service.metric("appeasement_http_request_duration_seconds_bucket")
    route = 'route="/v1/orders/{order_id}/appeasements"'
    answered = within = 0.0
    for labels, count in buckets.items():
        if route in labels and 'method="POST"' in labels:
            if 'le="+Inf"' in labels:
                answered = count
            elif 'le="1.0"' in labels:
                within = count
    return int(answered), int(answered - within)

"""MCOM's `appeasement_management.create` on the command topic, open loop at 300 commands/s
for 20 s over 200 orders: replies seen per second and command -> reply latency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.harness import order_message, percentiles, publish, say, service_process, wait_for_orders
from bench.load import steadily
from schemas.commands import APPEASEMENT_CREATE
from schemas.consumed import ORDER_CREATED
from schemas.examples import request
from service.settings import Settings

RATE = 300
SECONDS = 20.0
ORDERS = 200


def command(order_id: str, command_id: str) -> bytes:
    return json.dumps(request(APPEASEMENT_CREATE, {"appeasement": {
        "order_id": order_id, "user": "bench", "role": "manager",
        "lines": [{"id": "L1", "amount": 0.01, "reason": "ARTICLE_DEFECTIVE"}],
    }}, command_id)).encode()


async def command_latency(settings: Settings) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers or ""
    run = uuid.uuid4().hex[:6].upper()
    orders = [f"C-{run}-{n:04d}" for n in range(ORDERS)]
    async with service_process(settings):
        await publish(bootstrap, ORDER_CREATED,
                      [(o, order_message(o, str(uuid.uuid4()))) for o in orders])
        await wait_for_orders(settings.database_url or "", f"C-{run}-", ORDERS)
        say(f"commands: {ORDERS} orders projected")
        replies: dict[str, tuple[float, str]] = {}
        assigned = asyncio.Event()
        watcher = asyncio.create_task(
            _watch(bootstrap, settings.command_results_topic, replies, assigned)
        )
        await asyncio.wait_for(assigned.wait(), 60)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
        await producer.start()
        sent: dict[str, float] = {}

        async def send(number: int, scheduled: float) -> None:
            order_id = orders[number % ORDERS]
            command_id = f"bench-command-{run}-{number}"
            sent[command_id] = scheduled
            await producer.send(APPEASEMENT_CREATE, command(order_id, command_id),
                                key=order_id.encode())

        try:
            offer = await steadily(RATE, SECONDS, send)
            await producer.flush()
            sent_done = time.perf_counter()
            deadline = sent_done + 120
            while not sent.keys() <= replies.keys() and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await producer.stop()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    answered = [replies[i][0] - at for i, at in sent.items() if i in replies]
    first = min(sent.values())
    last_reply = max((replies[i][0] for i in sent if i in replies), default=first)
    return {
        "offered": offer.sent,
        "offered_per_s": RATE,
        "replies": len(answered),
        "outcomes": dict(Counter(replies[i][1] for i in sent if i in replies)),
        "replies_per_s": round(len(answered) / (last_reply - first), 1),
        "command_to_reply_ms": percentiles(answered),
    }


async def _watch(
    bootstrap: str, topic: str, replies: dict[str, tuple[float, str]], assigned: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-replies-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="latest", fetch_max_wait_ms=5,
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
                    reply = json.loads(record.value)
                    outcome = "result" if "result" in reply else reply["error"]["data"]["code"]
                    replies.setdefault(str(reply["id"]), (now, outcome))
    finally:
        await consumer.stop()

"""The real service over PostgreSQL and a broker that outlive it: it serves at once after a
kill -9, and answers 503 while the database is down, then recovers without a restart."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from chaos.instance import ServiceProcess
from chaos.parts import TOKENS, Parts
from schemas.consumed import ORDER_CREATED
from tests.builders import encode, jsonrpc, line, order, unique

pytestmark = pytest.mark.e2e

MANAGER = {"Authorization": f"Bearer {TOKENS['manager']}"}
SHIPPING = {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}


@pytest.fixture
async def parts():
    running = Parts()
    try:
        await running.start()
        yield running
    finally:
        running.stop()


async def seeded(parts: Parts, service: ServiceProcess, count: int) -> list[str]:
    """Orders published on the broker and projected by the service."""
    orders = [unique("RESTART") for _ in range(count)]
    producer = AIOKafkaProducer(bootstrap_servers=parts.bootstrap)
    await producer.start()
    try:
        for order_id in orders:
            message = jsonrpc(ORDER_CREATED, {"order": order(order_id, [
                line("L1", 1, "100.00", "17.36"),
                line("L2", 2, "5.90", "1.02", product_type="SHIPPING")])})
            await producer.send_and_wait(ORDER_CREATED, encode(message), key=order_id.encode())
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=service.url, headers=MANAGER) as api:
        deadline = time.monotonic() + 60
        for order_id in orders:
            while (await api.get(f"/v1/orders/{order_id}/balance")).status_code != 200:
                assert time.monotonic() < deadline, "the orders were not projected in 60 s"
                await asyncio.sleep(0.2)
    return orders


async def test_after_a_kill_it_serves_before_kafka_is_back_and_grants_at_once(parts):
    # given a running service that projected two orders
    service = ServiceProcess(parts)
    service.start()
    first_start = await service.wait_healthy(30)
    orders = await seeded(parts, service, 2)
    # when it is killed with SIGKILL and started again
    service.kill()
    service.start()
    second_start = await service.wait_healthy(30)
    async with httpx.AsyncClient(base_url=service.url, headers=MANAGER) as api:
        ready = await api.get("/readyz")
        # then HTTP answers while the consumer groups still wait for the dead member's
        # session to expire (the 3 s target itself is measured by `make bench`)
        assert ready.status_code == 503, ready.text
        assert not all(group["joined"] for group in ready.json()["consumers"].values())
        assert second_start < 10.0, f"the start after kill -9 took {second_start:.2f} s"
        # and a grant, which needs only PostgreSQL, succeeds right away
        granted = await api.post(f"/v1/orders/{orders[0]}/appeasements", json=SHIPPING,
                                 headers={"Idempotency-Key": unique("K")})
        assert granted.status_code == 201, granted.text
        # and the service becomes ready once the groups are joined again
        deadline = time.monotonic() + 60
        while (await api.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready within 60 s"
            await asyncio.sleep(0.5)
    print(f"healthz after start: {first_start:.2f} s, after kill -9: {second_start:.2f} s")
    service.stop()


async def test_with_the_database_down_every_route_answers_503_then_recovers(parts):
    # given a running service with a projected order
    service = ServiceProcess(parts)
    service.start()
    await service.wait_healthy(30)
    [order_id] = await seeded(parts, service, 1)
    async with httpx.AsyncClient(base_url=service.url, headers=MANAGER, timeout=10) as api:
        # when PostgreSQL stops at once
        await asyncio.to_thread(parts.pg_stop_immediate)
        key = {"Idempotency-Key": unique("K")}
        answers = [
            await api.get(f"/v1/orders/{order_id}/balance"),
            await api.post(f"/v1/orders/{order_id}/appeasements", json=SHIPPING, headers=key),
            await api.get(f"/v1/orders/{order_id}/appeasements"),
        ]
        # then each is a 503 problem to retry, not a bare 500
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "DATABASE_UNAVAILABLE"
            assert int(answer.headers["retry-after"]) > 0
        assert (await api.get("/readyz")).status_code == 503
        # and when it is back, the same grant goes through once, without a restart
        await asyncio.to_thread(parts.pg_start)
        deadline = time.monotonic() + 30
        while (retried := await api.post(f"/v1/orders/{order_id}/appeasements",
                                         json=SHIPPING, headers=key)).status_code == 503:
            assert time.monotonic() < deadline, "no recovery within 30 s"
            await asyncio.sleep(0.5)
        assert retried.status_code == 201, retried.text
        history = (await api.get(f"/v1/orders/{order_id}/appeasements")).json()
        assert len(history["appeasements"]) == 1
    service.stop()

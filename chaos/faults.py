"""The faults, one after the other, with the load running."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from chaos.bus import Bus, Tail
from chaos.instance import ServiceProcess
from chaos.ledger import Ledger
from chaos.load import Load
from chaos.parts import TOKENS, Parts
from chaos.seed import OrderPlan
from tests.builders import encode


@dataclass
class Stage:
    parts: Parts
    bus: Bus
    load: Load
    ledger: Ledger
    plans: list[OrderPlan]
    rng: random.Random
    deadline: float
    say: Callable[[str], None]
    services: list[ServiceProcess]
    tail: Tail

    async def restart(self, service: ServiceProcess, why: str) -> None:
        service.kill()
        self.ledger.faults.append(why)
        service.start()
        took = await service.wait_healthy(max(5.0, min(150.0, self.deadline - time.monotonic())))
        self.say(f"  {why}: healthy again after {took:.1f} s")


async def kill_during_projection(stage: Stage) -> None:
    """Publish a burst of snapshots and kill -9 once the first of them was applied."""
    watched, sending = publish_snapshots(stage)
    async with httpx.AsyncClient(timeout=1.0) as client:
        until = time.monotonic() + 5
        while watched and time.monotonic() < until and not await _applied(client, stage, watched):
            await asyncio.sleep(0.02)
    await stage.restart(stage.services[0], "kill -9 while projecting a burst of snapshots")
    await sending


async def kill_after_snapshots_and_grants(stage: Stage) -> None:
    """The quick run's one kill: snapshots being projected and grants just answered."""
    _, sending = publish_snapshots(stage)
    await kill_after_grants(
        stage, 20, "kill -9 amid a snapshot burst, right after grants were answered")
    await sending


def publish_snapshots(stage: Stage) -> tuple[OrderPlan | None, asyncio.Future[None]]:
    """Every order's newer snapshot (5 % twice, same id), then a stale one after it."""
    items, later, newer = [], [], []
    for plan in stage.plans:
        topic, message = plan.snapshot("newer")
        newer.append(len(items))
        items.append((topic, encode(message), plan.order_id))
        if stage.rng.random() < 0.05:
            items.append((topic, encode(message), plan.order_id))
        stale_topic, stale = plan.snapshot("stale")
        later.append((stale_topic, encode(stale), plan.order_id))

    async def send() -> None:
        sent = await stage.bus.send_many(items + later, stage.deadline)
        for plan, index in zip(stage.plans, newer, strict=True):
            plan.updated = sent[index] is not None

    watched = next((plan for plan in stage.plans if plan.late_capture), None)
    return watched, asyncio.ensure_future(send())


async def _applied(client: httpx.AsyncClient, stage: Stage, plan: OrderPlan) -> bool:
    try:
        response = await client.get(
            f"{stage.services[0].url}/v1/orders/{plan.order_id}/balance",
            headers={"Authorization": f"Bearer {TOKENS['manager']}"})
        lines = {line["line_id"]: line for line in response.json().get("lines", [])}
        return lines.get("L4", {}).get("paid", {}).get("gross", "0.00") != "0.00"
    except (httpx.HTTPError, ValueError):
        return False


async def kill_after_grants(
    stage: Stage, count: int = 30, why: str = "kill -9 right after a burst of grants was answered"
) -> None:
    """A burst of grants; kill -9 as soon as two thirds were answered 201, the rest in flight."""
    burst = asyncio.ensure_future(stage.load.burst(count, stage.deadline))
    until = time.monotonic() + 30
    while time.monotonic() < until and not burst.done():
        answered = sum(1 for g in stage.ledger.grants[-count:] if g.answered_at is not None)
        if answered >= count * 2 // 3:
            break
        await asyncio.sleep(0.005)
    await stage.restart(stage.services[0], why)
    await burst


async def freeze_broker(stage: Stage, seconds: float = 15.0) -> None:
    stage.parts.freeze_broker()
    stage.ledger.faults.append(f"broker frozen (SIGSTOP) {seconds:.0f} s")
    try:
        await asyncio.sleep(seconds)
    finally:
        stage.parts.thaw_broker()


async def bounce_postgres(stage: Stage, down: float) -> None:
    await asyncio.to_thread(stage.parts.pg_stop_immediate)
    stage.ledger.faults.append(f"PostgreSQL stop -m immediate, down {down:.0f} s, started again")
    await asyncio.sleep(down)
    await asyncio.to_thread(stage.parts.pg_start)


async def second_instance(stage: Stage, hold: float) -> None:
    """Another replica joins the same groups, takes half the HTTP load, then is killed -9."""
    second = ServiceProcess(stage.parts)
    second.start()
    try:
        took = await second.wait_healthy(min(150.0, stage.deadline - time.monotonic()))
        stage.say(f"  second instance healthy after {took:.1f} s; sharing the load {hold:.0f} s")
        stage.services.append(second)
        await asyncio.sleep(hold)
    finally:
        if second in stage.services:
            stage.services.remove(second)
        second.kill()
    stage.ledger.faults.append("second instance joined, then kill -9")

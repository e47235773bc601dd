"""The orders the run seeds, and what their newest snapshot says was paid and refunded."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from chaos.bus import Bus
from schemas.consumed import ORDER_CREATED, ORDER_UPDATED, REFUND_UPDATED
from tests.builders import encode, jsonrpc, line, order, refund

CENT = Decimal("0.01")
T0, T_STALE, T_NEWER = "2026-11-20T10:00:00Z", "2026-11-20T09:00:00Z", "2026-11-20T11:00:00Z"


def tax_of(gross: Decimal) -> Decimal:
    return (gross * 21 / 121).quantize(CENT)


@dataclass
class OrderPlan:
    """L1 a table, L2 two candles, L3 shipping; L4 (some orders) authorised first, captured in
    the newer snapshot. `refund` is an OMS Return refund on L1, made before any grant."""

    order_id: str
    customer_id: str
    prices: dict[str, Decimal]
    late_capture: bool
    refund: Decimal | None
    updated: bool = False  # the newer snapshot was published
    sent: list[dict[str, Any]] = field(default_factory=list)

    def _lines(self, *, captured_l4: bool, extra: bool = False) -> list[dict[str, Any]]:
        built = [line("L1", 1, str(self.prices["L1"]), str(tax_of(self.prices["L1"]))),
                 line("L2", 2, str(self.prices["L2"]), str(tax_of(self.prices["L2"])), quantity=2),
                 line("L3", 3, "5.90", "1.02", product_type="SHIPPING")]
        if self.late_capture:
            gross = self.prices["L4"]
            built.append(line("L4", 4, str(gross), str(tax_of(gross)),
                              payment_status="CAPTURED" if captured_l4 else "AUTHORIZED"))
        if extra:  # only in the stale snapshot: applied by mistake, it shows as paid money
            built.append(line("L9", 9, "77.00", str(tax_of(Decimal("77.00")))))
        return built

    def snapshot(self, which: str) -> tuple[str, dict[str, Any]]:
        """(topic, message) of the first, a stale (older status_date) or the newer snapshot."""
        if which == "newer":
            body = order(self.order_id, self._lines(captured_l4=True), status="SHIPPED",
                         status_date=T_NEWER, customer_id=self.customer_id)
            return ORDER_UPDATED, jsonrpc(ORDER_UPDATED, {"order": body})
        stale = which == "stale"
        body = order(self.order_id, self._lines(captured_l4=False, extra=stale),
                     status="CREATED" if stale else "PROCESSING",
                     status_date=T_STALE if stale else T0, customer_id=self.customer_id)
        return ORDER_CREATED, jsonrpc(ORDER_CREATED, {"order": body})

    def refund_message(self) -> tuple[str, dict[str, Any]]:
        assert self.refund is not None
        body = refund(self.order_id, f"CN-{self.order_id}",
                      [("L1", str(self.refund), str(tax_of(self.refund)))])
        return REFUND_UPDATED, jsonrpc(REFUND_UPDATED, {"refund": body})

    def paid(self) -> dict[str, Decimal]:
        """Per line, what the newest snapshot published says was captured."""
        paid = {"L1": self.prices["L1"], "L2": self.prices["L2"], "L3": Decimal("5.90")}
        if self.late_capture:
            paid["L4"] = self.prices["L4"] if self.updated else Decimal("0.00")
        return paid

    def refunded(self) -> dict[str, Decimal]:
        return {"L1": self.refund} if self.refund is not None else {}


def plan_orders(run_id: str, count: int, rng: random.Random) -> list[OrderPlan]:
    """Three orders per customer, so per-customer limits and locks are shared."""
    plans = []
    for i in range(count):
        prices = {"L1": Decimal(rng.randrange(6000, 40000)) / 100,
                  "L2": Decimal(rng.randrange(2000, 9000)) / 100,
                  "L4": Decimal(rng.randrange(3000, 12000)) / 100}
        plans.append(OrderPlan(
            order_id=f"CH{run_id}-{i:04d}", customer_id=f"C-CH{run_id}-{i // 3}", prices=prices,
            late_capture=rng.random() < 0.5,
            refund=(prices["L1"] * Decimal("0.3")).quantize(CENT) if rng.random() < 0.15 else None,
        ))
    return plans


async def publish_seed(bus: Bus, plans: list[OrderPlan], rng: random.Random, deadline: float) -> int:
    """First snapshots (5 % delivered twice with the same id, 20 % followed by a stale one),
    then the OMS refunds. Returns how many records were published."""
    items: list[tuple[str, bytes, str]] = []
    for plan in plans:
        topic, message = plan.snapshot("first")
        items.append((topic, encode(message), plan.order_id))
        if rng.random() < 0.05:
            items.append((topic, encode(message), plan.order_id))
        if rng.random() < 0.2:
            stale_topic, stale = plan.snapshot("stale")
            items.append((stale_topic, encode(stale), plan.order_id))
        if plan.refund is not None:
            refund_topic, message = plan.refund_message()
            items.append((refund_topic, encode(message), plan.order_id))
    await bus.send_many(items, deadline)
    return len(items)


async def wait_projected(url: str, token: str, plans: list[OrderPlan], timeout: float) -> int:
    """Wait until every order's balance shows its paid and refunded money; how many never did."""
    waiting = {plan.order_id: plan for plan in plans}
    until = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=5.0,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        gate = asyncio.Semaphore(16)

        async def projected(plan: OrderPlan) -> bool:
            async with gate:
                try:
                    response = await client.get(f"/v1/orders/{plan.order_id}/balance")
                except httpx.HTTPError:
                    return False
            if response.status_code != 200:
                return False
            totals = response.json()["totals"]
            return (Decimal(totals["paid"]["gross"]) == sum(plan.paid().values())
                    and Decimal(totals["refunded"]["gross"]) == sum(plan.refunded().values()))

        while waiting and time.monotonic() < until:
            done = await asyncio.gather(*(projected(plan) for plan in waiting.values()))
            for plan, ok in zip(list(waiting.values()), done, strict=True):
                if ok:
                    del waiting[plan.order_id]
            if waiting:
                await asyncio.sleep(0.5)
    return len(waiting)

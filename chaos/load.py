"""Grants as real clients send them, over HTTP and the command topic, and what came back."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx

from chaos.bus import Bus
from chaos.ledger import Grant, Ledger
from chaos.parts import TOKENS, USERS
from chaos.seed import OrderPlan
from schemas.commands import APPEASEMENT_CREATE, REFUND_CANCEL, REFUND_RELEASE
from tests.builders import encode, jsonrpc

HTTP_BODIES = [  # (weight, role, body); L4 is paid only once the newer snapshot arrived
    (5, "manager", {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "0.50"}}),
    (5, "manager", {"reason": "ARTICLE_DEFECTIVE", "lines": [{"line_id": "L1", "amount": "2.00"}]}),
    (3, "manager", {"reason": "CORRECTION_PRICE", "lines": [{"line_id": "L4", "amount": "1.50"}]}),
    (2, "lead", {"reason": "CUSTOMER_COMPLAINT", "percent": "3"}),
    (3, "agent", {"reason": "OTHER", "amounts": {"product": "4.00"}}),
    (1, "agent", {"reason": "ARTICLE_DEFECTIVE", "lines": [{"line_id": "L1", "amount": "120.00"}]}),
    (1, "manager", {"reason": "OTHER", "amounts": {"product": "1.005"}}),
    (1, "manager", {"reason": "NO_SUCH_REASON", "amounts": {"product": "1.00"}}),
]
RPC_LINES = [("L3", "DELIVERY_DELAYED", "0.40"), ("L2", "CORRECTION_PRICE", "1.20"),
             ("L4", "CORRECTION_PRICE", "0.90"), ("L1", "ARTICLE_DEFECTIVE", "900.00")]


class Load:
    def __init__(self, ledger: Ledger, bus: Bus, plans: list[OrderPlan], rng: random.Random,
                 targets: Callable[[], list[str]], grant_timeout: float) -> None:
        self.ledger, self.bus, self.plans, self.rng = ledger, bus, plans, rng
        self.targets, self.grant_timeout = targets, grant_timeout
        self.client = httpx.AsyncClient(timeout=10.0)
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(48)
        self.outcome_share = 0.2

    def _http(self, plan: OrderPlan, role: str | None = None) -> Grant:
        weight, chosen, body = self.rng.choices(HTTP_BODIES, [w for w, *_ in HTTP_BODIES])[0]
        return Grant(f"http-{uuid.uuid4()}", "http", plan.order_id, role or chosen, body)

    def _rpc(self, plan: OrderPlan) -> Grant:
        line_id, reason, amount = self.rng.choice(RPC_LINES)
        role = self.rng.choice(["manager", "manager", "lead"])
        body = {"appeasement": {"sales_channel_id": "eu-web", "order_id": plan.order_id,
                                "user": USERS[role], "role": role, "lines": [
                                    {"id": line_id, "amount": Decimal(amount), "reason": reason,
                                     "reason_description": "chaos"}]}}
        return Grant(f"rpc-{uuid.uuid4()}", "rpc", plan.order_id, role, body)

    async def run(self, rate: float, stop: asyncio.Event, deadline: float) -> None:
        """About `rate` grants a second, 70 % over HTTP, until `stop` or the deadline."""
        while not stop.is_set() and time.monotonic() < deadline:
            plan = self.rng.choice(self.plans)
            grant = self._http(plan) if self.rng.random() < 0.7 else self._rpc(plan)
            await self.slots.acquire()
            self.spawn(grant, deadline)
            await asyncio.sleep(1 / rate)

    def spawn(self, grant: Grant, deadline: float) -> asyncio.Task[None]:
        self.ledger.grants.append(grant)
        task = asyncio.create_task(self.send(grant, deadline))
        self.tasks.add(task)
        task.add_done_callback(lambda t: (self.tasks.discard(t), self.slots.release()))
        return task

    async def burst(self, count: int, deadline: float) -> list[Grant]:
        """`count` manager grants at once over HTTP; returns when all were answered."""
        grants = [self._http(self.rng.choice(self.plans), "manager") for _ in range(count)]
        for _grant in grants:
            await self.slots.acquire()
        await asyncio.gather(*(self.spawn(g, deadline) for g in grants), return_exceptions=True)
        return grants

    async def drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
        for task in list(self.tasks):
            task.cancel()
        await self.client.aclose()

    async def send(self, grant: Grant, deadline: float) -> None:
        grant.sent_at = time.monotonic()
        until = min(deadline, grant.sent_at + self.grant_timeout)
        if grant.channel == "rpc":
            grant.attempts = 1
            sent = await self.bus.send(APPEASEMENT_CREATE, encode(jsonrpc(
                APPEASEMENT_CREATE, grant.body, grant.key)), grant.order_id, until)
            grant.acked = sent is not None
            return
        headers = {"Authorization": f"Bearer {TOKENS[grant.role]}", "Idempotency-Key": grant.key}
        backoff = 0.2
        while time.monotonic() < until:
            grant.attempts += 1
            try:
                response = await self.client.post(
                    f"{self.rng.choice(self.targets())}/v1/orders/{grant.order_id}/appeasements",
                    json=grant.body, headers=headers)
            except httpx.TransportError as error:
                self.ledger.retried[type(error).__name__] += 1
                response = None
            if response is not None and response.status_code < 500:
                self._answered(grant, response)
                if grant.status == "PENDINGRELEASE" and self.rng.random() < self.outcome_share:
                    await self._outcome(grant, until)
                return
            if response is not None:
                self.ledger.retried[f"{response.status_code} {_code(response)}"] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _answered(self, grant: Grant, response: httpx.Response) -> None:
        grant.answered_at, grant.http_status = time.monotonic(), response.status_code
        if response.status_code in (200, 201):
            body = response.json()
            grant.appeasement_id, grant.status = body.get("id"), body.get("status")
        else:
            grant.code = _code(response)

    async def _outcome(self, grant: Grant, until: float) -> None:
        """The PSP's answer: mostly released, sometimes cancelled (money back)."""
        action = REFUND_RELEASE if self.rng.random() < 0.75 else REFUND_CANCEL
        params = {"sales_channel_id": "eu-web", "order_id": grant.order_id,
                  "credit_note_number": grant.appeasement_id, "user": "psp"}
        sent = await self.bus.send(action, encode(jsonrpc(action, params, f"psp-{uuid.uuid4()}")),
                                   grant.order_id, until)
        self.ledger.outcomes.append(
            (str(grant.appeasement_id), grant.order_id, action, sent is not None))


def _code(response: httpx.Response) -> str:
    """The problem's `code`, or what the body was when it is not a problem."""
    try:
        return str(response.json().get("code") or f"HTTP_{response.status_code}")
    except (ValueError, AttributeError):
        return f"HTTP_{response.status_code} (not JSON)"

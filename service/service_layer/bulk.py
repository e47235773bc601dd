"""Bulk appeasements: one request shape applied to many orders.

Creating one dry-runs every selected order (the preview a grant would get) and stores what
each order will be asked, so the run grants exactly what the dry run showed. Running it
grants one appeasement per order in the background, each under the idempotency key
`bulk:<bulk id>:<order id>`: a runner that dies mid-way leaves the item pending, and the
next runner's grant under the same key answers the first grant again, never a second one.
Role limits and four eyes apply to each order as to a single grant.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import asyncpg
import structlog

from schemas.appeasements import REQUEST, AppeasementRequest
from schemas.bulk import MAX_BULK_ORDERS, BulkOut, BulkRequest, BulkSelection, BulkSummaryOut
from service.adapters import bulk_repo
from service.domain.errors import DomainError
from service.domain.policy import Policy
from service.service_layer import ids
from service.service_layer.appeasements import Appeasements, Caller
from service.service_layer.bulk_runner import REFUSED, BulkRunner
from service.service_layer.bulk_views import bulk_out, counts_out
from service.service_layer.ports import PoolSource
from service.service_layer.queries import OrderNotFound, order_balance
from service.service_layer.views import iso

log = structlog.get_logger(__name__)

#: Orders previewed at once during a dry run (each takes a pooled connection).
DRY_RUN_CONCURRENCY = 4

class BulkNotFound(DomainError):
    code = "BULK_NOT_FOUND"
    http_status = 404


class NoOrdersSelected(DomainError):
    code = "NO_ORDERS_SELECTED"


class BulkNotRunnable(DomainError):
    """Only a dry-run bulk can be run, and only a draft or running one cancelled."""

    code = "BULK_NOT_RUNNABLE"


class Bulks:
    def __init__(
        self, database: PoolSource, appeasements: Appeasements, policy: Policy,
        runner: BulkRunner,
    ) -> None:
        self._database = database
        self._appeasements = appeasements
        self._policy = policy
        self._runner = runner

    async def create(self, body: BulkRequest, caller: Caller) -> BulkOut:
        """Select the orders and dry-run each of them; nothing is granted yet."""
        self._policy.check_may(caller.role, "grant")
        self._policy.reason(body.reason)
        order_ids = await self._select(body.selection)
        if not order_ids:
            raise NoOrdersSelected("the selection names no order")
        async with self._database.pool.acquire() as connection:
            known = await bulk_repo.known_orders(connection, order_ids)
        room = asyncio.Semaphore(DRY_RUN_CONCURRENCY)

        async def dry_run(order_id: str) -> dict[str, Any]:
            if order_id not in known:
                return _refused_at_once(order_id, OrderNotFound(order_id))
            async with room:
                return await self._dry_run(order_id, body, caller)

        items = await asyncio.gather(*(dry_run(order_id) for order_id in order_ids))
        bulk_id = "BLK-" + ids.appeasement_id().removeprefix("APP-")
        async with self._database.pool.acquire() as connection, connection.transaction():
            await bulk_repo.insert(connection, {
                "bulk_id": bulk_id, "name": body.name, "reason": body.reason,
                "comment": body.comment,
                "shape": body.request.model_dump(mode="json", exclude_defaults=True),
                "selection": body.selection.model_dump(mode="json", exclude_none=True),
                "created_by": caller.user, "role": caller.role,
            }, items)
        log.info("bulk appeasement created", bulk_id=bulk_id, orders=len(items),
                 user=caller.user, role=caller.role, reason=body.reason)
        return await self.get(bulk_id)

    async def run(self, bulk_id: str, caller: Caller) -> BulkOut:
        """Start granting; each grant is made as `caller`, under `caller`'s limits."""
        self._policy.check_may(caller.role, "grant")
        async with self._database.pool.acquire() as connection:
            started = await bulk_repo.start(connection, bulk_id, caller.user, caller.role)
            if not started:
                await self._refuse_transition(connection, bulk_id, "run")
        log.info("bulk appeasement started", bulk_id=bulk_id, user=caller.user)
        self._runner.wake()
        return await self.get(bulk_id)

    async def cancel(self, bulk_id: str, caller: Caller) -> BulkOut:
        """Stop it: orders not granted yet never will be; what was granted stays."""
        self._policy.check_may(caller.role, "grant")
        async with self._database.pool.acquire() as connection, connection.transaction():
            if not await bulk_repo.cancel(connection, bulk_id, caller.user):
                await self._refuse_transition(connection, bulk_id, "cancel")
        log.info("bulk appeasement cancelled", bulk_id=bulk_id, user=caller.user)
        return await self.get(bulk_id)

    async def get(self, bulk_id: str) -> BulkOut:
        async with self._database.pool.acquire() as connection:
            bulk = await bulk_repo.get(connection, bulk_id)
            if bulk is None:
                raise BulkNotFound(f"no bulk appeasement {bulk_id}", bulk_id=bulk_id)
            rows = await bulk_repo.items(connection, bulk_id)
        return bulk_out(bulk, rows)

    async def recent(self, limit: int = 50) -> list[BulkSummaryOut]:
        async with self._database.pool.acquire() as connection:
            bulks = await bulk_repo.recent(connection, limit)
            counted = await bulk_repo.counts(connection, [b["bulk_id"] for b in bulks])
        return [
            BulkSummaryOut(
                id=b["bulk_id"], name=b["name"], reason=b["reason"], status=b["status"],
                created_by=b["created_by"], created_at=iso(b["created_at"]),
                progress=counts_out(counted.get(b["bulk_id"], [])),
            )
            for b in bulks
        ]

    # --- mechanics ------------------------------------------------------------------
    async def _refuse_transition(
        self, connection: asyncpg.Connection, bulk_id: str, action: str
    ) -> None:
        bulk = await bulk_repo.get(connection, bulk_id)
        if bulk is None:
            raise BulkNotFound(f"no bulk appeasement {bulk_id}", bulk_id=bulk_id)
        raise BulkNotRunnable(
            f"cannot {action} a bulk appeasement that is {bulk['status']}",
            bulk_id=bulk_id, status=bulk["status"],
        )

    async def _select(self, selection: BulkSelection) -> list[str]:
        if selection.order_ids is not None:
            chosen = selection.order_ids
        elif selection.csv is not None:
            chosen = orders_of_csv(selection.csv)
        else:
            assert selection.carrier and selection.shipped_from and selection.shipped_to
            async with self._database.pool.acquire() as connection:
                chosen = await bulk_repo.shipped_by(
                    connection, selection.carrier, selection.shipped_from,
                    selection.shipped_to, MAX_BULK_ORDERS + 1,
                )
        unique = list(dict.fromkeys(order_id.strip() for order_id in chosen if order_id.strip()))
        if len(unique) > MAX_BULK_ORDERS:
            raise NoOrdersSelected(
                f"the selection names more than {MAX_BULK_ORDERS} orders",
                limit=MAX_BULK_ORDERS,
            )
        return unique

    async def _dry_run(self, order_id: str, body: BulkRequest, caller: Caller) -> dict[str, Any]:
        item: dict[str, Any] = {
            "order_id": order_id, "request": None, "preview_amount": None,
            "preview_code": None, "preview_message": None, "currency": None,
        }
        try:
            request = await self._request_for(order_id, body)
            item["request"] = request.model_dump(mode="json", exclude_none=True)
            preview = await self._appeasements.preview(order_id, request, caller)
        except DomainError as error:
            return {**item, "preview_status": REFUSED, "preview_code": error.code,
                    "preview_message": error.message}
        return {**item, "preview_status": preview.status, "preview_amount": preview.amount,
                "currency": preview.currency}

    async def _request_for(self, order_id: str, body: BulkRequest) -> AppeasementRequest:
        """What this order is asked: the shape as it is, or its own creditable shipping."""
        shape = body.request
        common: dict[str, Any] = {"reason": body.reason, "comment": body.comment}
        if shape.amounts is not None:
            return REQUEST.validate_python({**common, "amounts": shape.amounts})
        if shape.percent is not None:
            return REQUEST.validate_python({
                **common, "percent": shape.percent, "include_shipping": shape.include_shipping,
            })
        balance = await order_balance(self._database.pool, order_id)
        shipping = balance.buckets.get("shipping")
        creditable = shipping.creditable if shipping else None
        amount = "0" if creditable is None else (
            creditable.net if balance.taxation == "net" else creditable.gross
        )
        return REQUEST.validate_python({**common, "amounts": {"shipping": amount}})


def _refused_at_once(order_id: str, error: DomainError) -> dict[str, Any]:
    return {
        "order_id": order_id, "request": None, "preview_status": REFUSED,
        "preview_amount": None, "preview_code": error.code, "preview_message": error.message,
        "currency": None,
    }


def orders_of_csv(text: str) -> list[str]:
    """The first column of each row; a first row naming the column is a header."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
    if rows and rows[0][0].strip().lower() in {"order_id", "order", "order id", "id"}:
        rows = rows[1:]
    return [row[0].strip() for row in rows]

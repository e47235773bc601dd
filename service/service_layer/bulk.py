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
import contextlib
import csv
import io
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from schemas.appeasements import REQUEST, AppeasementRequest
from schemas.bulk import (
    MAX_BULK_ORDERS,
    BulkCounts,
    BulkItemOut,
    BulkOut,
    BulkPreviewOut,
    BulkRequest,
    BulkSelection,
    BulkShape,
    BulkSummaryOut,
    DryRunOut,
)
from service.adapters import bulk_repo
from service.adapters.db import TRANSIENT_ERRORS
from service.domain.errors import DomainError
from service.domain.lifecycle import PENDING_APPROVAL
from service.domain.policy import Policy
from service.retry import Backoff
from service.service_layer import ids
from service.service_layer.appeasements import Appeasements, Caller, GrantAppeasement
from service.service_layer.ports import PoolSource
from service.service_layer.queries import OrderNotFound, order_balance
from service.service_layer.views import iso

log = structlog.get_logger(__name__)

#: Orders previewed at once during a dry run (each takes a pooled connection).
DRY_RUN_CONCURRENCY = 4

DRAFT, RUNNING, DONE, CANCELLED = "DRAFT", "RUNNING", "DONE", "CANCELLED"
PENDING, GRANTED, HELD, REFUSED = "PENDING", "GRANTED", "HELD", "REFUSED"


class BulkNotFound(DomainError):
    code = "BULK_NOT_FOUND"
    http_status = 404


class NoOrdersSelected(DomainError):
    code = "NO_ORDERS_SELECTED"


class BulkNotRunnable(DomainError):
    """Only a dry-run bulk can be run, and only a draft or running one cancelled."""

    code = "BULK_NOT_RUNNABLE"


def bulk_key(bulk_id: str, order_id: str) -> str:
    """The idempotency key of the grant a bulk makes on one order."""
    return f"bulk:{bulk_id}:{order_id}"


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
        return _bulk_out(bulk, rows)

    async def recent(self, limit: int = 50) -> list[BulkSummaryOut]:
        async with self._database.pool.acquire() as connection:
            bulks = await bulk_repo.recent(connection, limit)
            counted = await bulk_repo.counts(connection, [b["bulk_id"] for b in bulks])
        return [
            BulkSummaryOut(
                id=b["bulk_id"], name=b["name"], reason=b["reason"], status=b["status"],
                created_by=b["created_by"], created_at=iso(b["created_at"]),
                progress=_counts(counted.get(b["bulk_id"], [])),
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


class BulkRunner:
    """Grants the items of running bulks, one at a time, in the background; picks up the
    bulks left running by a stopped instance when it starts."""

    def __init__(
        self, database: PoolSource, appeasements: Appeasements, *, poll_seconds: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._database = database
        self._appeasements = appeasements
        self._poll_seconds = poll_seconds
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="bulk-runner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        backoff = Backoff(first=0.2, cap=self._max_backoff)
        while True:
            try:
                await self.run_pending()
                backoff = Backoff(first=0.2, cap=self._max_backoff)
            except TRANSIENT_ERRORS as error:
                delay = backoff.delay()
                log.warning("bulk runner paused: database unavailable", error=repr(error),
                            retry_in=delay)
                await asyncio.sleep(delay)
                continue
            except Exception:  # noqa: BLE001 - a defect is logged; the item is tried again
                delay = backoff.delay()
                log.exception("bulk runner failed", retry_in=delay)
                await asyncio.sleep(delay)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def run_pending(self) -> None:
        """Work every running bulk until none has an item left for this runner."""
        async with self._database.pool.acquire() as connection:
            bulk_ids = await bulk_repo.running(connection)
        for bulk_id in bulk_ids:
            while await self.step(bulk_id):
                pass

    async def step(self, bulk_id: str) -> bool:
        """Grant the bulk's next free item; False when none is left (or it was cancelled).

        The item stays locked until its outcome is written in the same transaction: a
        runner that dies in between leaves it pending, and the grant under the same key
        answers again the first time.
        """
        async with self._database.pool.acquire() as connection, connection.transaction():
            bulk = await bulk_repo.share(connection, bulk_id)
            if bulk is None or bulk["status"] != RUNNING:
                return False
            item = await bulk_repo.claim_next(connection, bulk_id)
            if item is None:
                if not await bulk_repo.any_pending(connection, bulk_id):
                    await bulk_repo.finish(connection, bulk_id)
                    log.info("bulk appeasement done", bulk_id=bulk_id)
                return False
            outcome = await self._grant(bulk, item)
            await bulk_repo.record_outcome(connection, bulk_id, item["position"], **outcome)
        return True

    async def _grant(self, bulk: asyncpg.Record, item: asyncpg.Record) -> dict[str, Any]:
        if item["request"] is None:  # the dry run could not even make the request
            return {"status": REFUSED, "code": item["preview_code"],
                    "message": item["preview_message"]}
        command = GrantAppeasement(
            order_id=item["order_id"],
            request=REQUEST.validate_python(json.loads(item["request"])),
            caller=Caller(user=bulk["run_by"], role=bulk["run_role"]),
            channel="bulk",
            idempotency_key=bulk_key(bulk["bulk_id"], item["order_id"]),
        )
        try:
            granted = await self._appeasements.grant(command)
        except DomainError as error:
            return {"status": REFUSED, "code": error.code, "message": error.message}
        body = granted.appeasement
        return {
            "status": HELD if body["status"] == PENDING_APPROVAL else GRANTED,
            "appeasement_id": body["id"], "amount": body["amount"],
            "currency": body["currency"],
        }


def _counts(rows: list[tuple[str, str | None, int]]) -> BulkCounts:
    by_status: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for status, code, n in rows:
        by_status[status] += n
        if status == REFUSED:
            refused[code or "UNKNOWN"] += n
    done = by_status[GRANTED] + by_status[HELD] + by_status[REFUSED]
    return BulkCounts(
        total=sum(by_status.values()), done=done, pending=by_status[PENDING],
        granted=by_status[GRANTED], held=by_status[HELD], refused=by_status[REFUSED],
        cancelled=by_status[CANCELLED], refused_by_code=dict(sorted(refused.items())),
    )


def _dry_run(rows: list[asyncpg.Record]) -> DryRunOut:
    by_status = Counter(row["preview_status"] for row in rows)
    refused = Counter(row["preview_code"] for row in rows if row["preview_status"] == REFUSED)
    amounts: dict[str, Decimal] = {}
    for row in rows:
        if row["preview_status"] != REFUSED and row["preview_amount"] is not None:
            amounts[row["currency"]] = amounts.get(row["currency"], Decimal(0)) + Decimal(
                row["preview_amount"]
            )
    return DryRunOut(
        would_grant=by_status.get("PENDINGRELEASE", 0),
        would_hold=by_status.get(PENDING_APPROVAL, 0),
        would_refuse=by_status.get(REFUSED, 0),
        refused_by_code=dict(sorted(refused.items())),
        amount_by_currency={code: str(total) for code, total in sorted(amounts.items())},
    )


def _bulk_out(bulk: asyncpg.Record, rows: list[asyncpg.Record]) -> BulkOut:
    def when(value: Any) -> str | None:
        return None if value is None else iso(value)

    return BulkOut(
        id=bulk["bulk_id"], name=bulk["name"], reason=bulk["reason"], comment=bulk["comment"],
        request=BulkShape.model_validate(json.loads(bulk["shape"])),
        selection=BulkSelection.model_validate(json.loads(bulk["selection"])),
        status=bulk["status"], created_by=bulk["created_by"], role=bulk["role"],
        created_at=iso(bulk["created_at"]), run_by=bulk["run_by"],
        started_at=when(bulk["started_at"]), finished_at=when(bulk["finished_at"]),
        cancelled_by=bulk["cancelled_by"],
        dry_run=_dry_run(rows),
        progress=_counts([(row["status"], row["code"], 1) for row in rows]),
        items=[
            BulkItemOut(
                order_id=row["order_id"], status=row["status"],
                dry_run=BulkPreviewOut(
                    status=row["preview_status"], amount=row["preview_amount"],
                    code=row["preview_code"], message=row["preview_message"],
                ),
                appeasement_id=row["appeasement_id"], amount=row["amount"],
                currency=row["currency"], code=row["code"], message=row["message"],
                done_at=when(row["done_at"]),
            )
            for row in rows
        ],
    )


BULK_CSV_COLUMNS = (
    "order_id", "status", "appeasement_id", "amount", "currency", "code", "message",
    "dry_run_status", "dry_run_amount", "dry_run_code",
)


def bulk_csv(bulk: BulkOut) -> str:
    """One row per order: what the run did, and what the dry run said."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BULK_CSV_COLUMNS)
    for item in bulk.items:
        writer.writerow([
            item.order_id, item.status, item.appeasement_id, item.amount, item.currency,
            item.code, item.message, item.dry_run.status, item.dry_run.amount,
            item.dry_run.code,
        ])
    return out.getvalue()

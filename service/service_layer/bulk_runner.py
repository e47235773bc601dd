"""The bulk runner: grants the orders of running bulk appeasements in the background.

Each grant is made under the idempotency key `bulk:<bulk id>:<order id>`, and the order's
result is written in the transaction that held its row: a runner that dies in between
leaves the order pending, and the next runner's grant under the same key answers the first
grant again, never a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
import structlog

from schemas.appeasements import REQUEST
from service import background
from service.adapters import bulk_repo
from service.adapters.db import TRANSIENT_ERRORS
from service.domain.errors import DomainError
from service.domain.lifecycle import PENDING_APPROVAL
from service.retry import Backoff
from service.service_layer.appeasements import Appeasements, Caller, GrantAppeasement
from service.service_layer.ports import PoolSource

log = structlog.get_logger(__name__)

DRAFT, RUNNING, DONE, CANCELLED = "DRAFT", "RUNNING", "DONE", "CANCELLED"
PENDING, GRANTED, HELD, REFUSED = "PENDING", "GRANTED", "HELD", "REFUSED"


def bulk_key(bulk_id: str, order_id: str) -> str:
    """The idempotency key of the grant a bulk makes on one order."""
    return f"bulk:{bulk_id}:{order_id}"


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
        await background.cancel(self._task)
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

"""The PSP's outcome for one of our credit notes: RELEASED, or FAILED with the money back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from service import metrics
from service.adapters import appeasement_repo as appeasements
from service.adapters import projection_repo as orders
from service.domain.errors import DomainError
from service.domain.lifecycle import next_status
from service.service_layer.ports import PoolSource
from service.service_layer.refund_events import RefundEvents

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RecordRefundOutcome:
    """A PSP's answer for one of our credit notes: `release` or `cancel`."""

    message_id: str
    action: Literal["release", "cancel"]
    order_id: str
    credit_note_number: str
    user: str | None = None


class Outcomes:
    def __init__(self, database: PoolSource, events: RefundEvents) -> None:
        self._database = database
        self._events = events

    async def record(self, outcome: RecordRefundOutcome) -> str:
        """RELEASED, or FAILED with the money given back; never flips a decided status.

        Returns what became of it: `applied`, `duplicate` (this message was applied before),
        `unknown_credit_note`, `refused` (decided the other way) or `unchanged` (repeated)."""
        context = {
            "order_id": outcome.order_id, "credit_note_number": outcome.credit_note_number,
            "message_id": outcome.message_id, "action": outcome.action,
        }
        async with self._database.pool.acquire() as connection, connection.transaction():
            fresh = await orders.record_inbox(
                connection, "psp-outcomes",
                [(outcome.message_id, f"refund_management.{outcome.action}", outcome.order_id)],
            )
            if not fresh:
                log.info("refund outcome already applied", **context)
                return "duplicate"
            order = await orders.lock_existing_order(connection, outcome.order_id)
            row = await appeasements.lock(connection, outcome.credit_note_number)
            if order is None or row is None or row["order_id"] != outcome.order_id:
                log.info("refund outcome for an unknown credit note ignored", **context)
                return "unknown_credit_note"
            try:
                target = next_status(row["status"], outcome.action)
            except DomainError as error:
                log.warning("refund outcome refused", code=error.code, status=row["status"],
                            **context)
                return "refused"
            if target is None:
                log.info("refund outcome repeated, nothing to change", status=row["status"],
                         **context)
                return "unchanged"
            await appeasements.set_status(connection, row["appeasement_id"], target)
            await appeasements.add_transition(
                connection, row["appeasement_id"], row["status"], target,
                actor=outcome.user or "psp", reason=f"PSP_{outcome.action.upper()}",
            )
            await self._events.queue(connection, row["appeasement_id"], order,
                                     f"PSP_{outcome.action.upper()}")
        metrics.TRANSITIONS.labels(target).inc()
        log.info("appeasement status changed", from_status=row["status"], to_status=target,
                 appeasement_id=row["appeasement_id"], **context)
        return "applied"

"""Claims (reclamations): opened on an order, closed once for good, naming appeasements."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from schemas.appeasements import ClaimAppeasementOut, ClaimOut, ClaimRequest
from service.adapters import appeasement_repo, claims_repo
from service.adapters import projection_repo as orders
from service.domain.appeasement import UnknownLine
from service.domain.errors import DomainError
from service.domain.money import Currency
from service.domain.policy import Policy
from service.service_layer import ids
from service.service_layer.ports import PoolSource
from service.service_layer.queries import OrderNotFound
from service.service_layer.views import iso

log = structlog.get_logger(__name__)

OPEN, CLOSED = "OPEN", "CLOSED"


class ClaimNotFound(DomainError):
    """A claim an appeasement names is not on that order (a rule breach, 422)."""

    code = "CLAIM_NOT_FOUND"


class NoSuchClaim(DomainError):
    """A claim addressed by its own URL does not exist (404)."""

    code = "CLAIM_NOT_FOUND"
    http_status = 404


class ClaimClosed(DomainError):
    code = "CLAIM_CLOSED"


async def check_claim_open(connection: asyncpg.Connection, claim_id: str, order_id: str) -> None:
    """For a grant naming a claim: it exists on that order, is open, and stays open until
    the grant commits."""
    claim = await claims_repo.hold_open(connection, claim_id)
    if claim is None or claim["order_id"] != order_id:
        raise ClaimNotFound(f"order {order_id} has no claim {claim_id}",
                            claim_id=claim_id, order_id=order_id)
    if claim["status"] == CLOSED:
        raise ClaimClosed(f"claim {claim_id} is closed", claim_id=claim_id)


class Claims:
    def __init__(self, database: PoolSource, policy: Policy) -> None:
        self._database = database
        self._policy = policy

    async def open(self, order_id: str, request: ClaimRequest, user: str) -> ClaimOut:
        self._policy.reason(request.reason)
        claim_id = "CLM-" + ids.appeasement_id().removeprefix("APP-")
        async with self._database.pool.acquire() as connection:
            order = (await orders.load_orders(connection, [order_id])).get(order_id)
            if order is None or not order.known:
                raise OrderNotFound(order_id)
            line_ids = request.line_ids or sorted(order.lines)
            unknown = [line_id for line_id in line_ids if line_id not in order.lines]
            if unknown:
                raise UnknownLine(f"order has no line {unknown[0]}", line=unknown[0])
            await claims_repo.insert(
                connection, claim_id=claim_id, order_id=order_id, reason=request.reason,
                comment=request.comment, line_ids=line_ids, opened_by=user,
            )
            claim = await claims_repo.get(connection, claim_id)
        log.info("claim opened", claim_id=claim_id, order_id=order_id, user=user,
                 reason=request.reason)
        return _claim_out(claim, [])

    async def close(self, claim_id: str, user: str, comment: str | None) -> ClaimOut:
        async with self._database.pool.acquire() as connection, connection.transaction():
            claim = await claims_repo.lock(connection, claim_id)
            if claim is None:
                raise NoSuchClaim(f"no claim {claim_id}", claim_id=claim_id)
            if claim["status"] == CLOSED:
                raise ClaimClosed(f"claim {claim_id} is already closed", claim_id=claim_id)
            await claims_repo.close(connection, claim_id, user, comment)
            closed = await claims_repo.get(connection, claim_id)
            linked = await claims_repo.appeasements_of(connection, [claim_id])
        log.info("claim closed", claim_id=claim_id, order_id=claim["order_id"], user=user)
        return _claim_out(closed, linked.get(claim_id, []))

    async def for_order(self, order_id: str) -> list[ClaimOut]:
        async with self._database.pool.acquire() as connection:
            if not await appeasement_repo.order_known(connection, order_id):
                raise OrderNotFound(order_id)
            claims = await claims_repo.for_order(connection, order_id)
            linked = await claims_repo.appeasements_of(
                connection, [claim["claim_id"] for claim in claims]
            )
        return [_claim_out(claim, linked.get(claim["claim_id"], [])) for claim in claims]


def _claim_out(claim: Any, appeasements: list[dict[str, Any]]) -> ClaimOut:
    return ClaimOut(
        id=claim["claim_id"], order_id=claim["order_id"], status=claim["status"],
        reason=claim["reason"], comment=claim["comment"], line_ids=list(claim["line_ids"]),
        opened_by=claim["opened_by"], opened_at=iso(claim["opened_at"]),
        closed_by=claim["closed_by"],
        closed_at=iso(claim["closed_at"]) if claim["closed_at"] else None,
        close_comment=claim["close_comment"],
        appeasements=[
            ClaimAppeasementOut(
                id=row["appeasement_id"], status=row["status"], currency=row["currency"],
                amount=Currency.of(row["currency"]).format(row["amount_minor"]),
            )
            for row in appeasements
        ],
    )

"""Read side: the creditable balance and the shipments of one order, as the API shows them."""

from __future__ import annotations

import asyncpg

from schemas.api import BalanceFigures, BalanceOut, LineBalanceOut, ShipmentOut
from service.adapters import appeasement_repo
from service.adapters import projection_repo as repo
from service.domain.balance import BucketTotals, LineBalance, compute_balance
from service.domain.errors import DomainError
from service.domain.money import Currency
from service.service_layer.views import amounts_out, iso


class OrderNotFound(DomainError):
    code = "ORDER_NOT_FOUND"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} is not known to this service", order_id=order_id)


async def order_balance(pool: asyncpg.Pool, order_id: str) -> BalanceOut:
    async with pool.acquire() as connection:
        states = await repo.load_orders(connection, [order_id])
        appeased = await appeasement_repo.appeased_by_line(connection, order_id)
    state = states.get(order_id)
    if state is None or not state.known:
        raise OrderNotFound(order_id)
    balance = compute_balance(state, appeased)
    currency = balance.currency
    return BalanceOut(
        order_id=state.order_id,
        store=state.store,
        currency=currency.code,
        taxation=state.taxation,
        status=state.status,
        appeasable=balance.appeasable,
        not_appeasable_reason=balance.not_appeasable_reason,
        lines=[_line(currency, line) for line in balance.lines],
        buckets={name: _figures(currency, totals) for name, totals in balance.buckets.items()},
        totals=_figures(currency, balance.totals),
    )


async def order_shipments(pool: asyncpg.Pool, order_id: str) -> list[ShipmentOut]:
    """The order's shipments, earliest first (undated ones last)."""
    async with pool.acquire() as connection:
        shipments = await repo.load_shipments(connection, order_id)
    if shipments is None:
        raise OrderNotFound(order_id)
    return [
        ShipmentOut(
            shipment_id=shipment.shipment_id,
            shipped_at=None if shipment.shipped_at is None else iso(shipment.shipped_at),
            method=shipment.method, line_ids=list(shipment.line_ids),
            carriers=list(shipment.carriers), tracking_numbers=list(shipment.tracking_numbers),
        )
        for shipment in shipments
    ]


def _figures(currency: Currency, totals: BucketTotals | LineBalance) -> BalanceFigures:
    return BalanceFigures(
        paid=amounts_out(currency, totals.paid),
        refunded=amounts_out(currency, totals.refunded),
        appeased=amounts_out(currency, totals.appeased),
        under_return=amounts_out(currency, totals.under_return),
        creditable=amounts_out(currency, totals.creditable),
    )


def _line(currency: Currency, balance: LineBalance) -> LineBalanceOut:
    line = balance.line
    return LineBalanceOut(
        line_id=line.line_id,
        line_number=line.line_number,
        sku=line.sku,
        product_name=line.product_name,
        product_type=line.product_type,
        bucket=line.bucket,
        quantity=line.quantity,
        status=line.status,
        cancelled=balance.cancelled,
        tax_rate=None if line.tax_rate is None else str(line.tax_rate),
        under_return_quantity=balance.under_return_units,
        dropped=balance.dropped,
        **_figures(currency, balance).model_dump(),
    )

"""Load and store order projections; the inbox that makes redelivery harmless."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from service.domain.events import Customer, RefundLineAmount
from service.domain.projection import (
    LineState,
    OmsRefund,
    OrderState,
    ReturnState,
    Shipment,
)

RECORD_INBOX = """
INSERT INTO inbox (consumer, message_id, method, order_id)
SELECT $1, m.id, m.method, m.order_id
FROM unnest($2::text[], $3::text[], $4::text[]) AS m (id, method, order_id)
ON CONFLICT DO NOTHING
RETURNING message_id
"""

ENSURE_ORDERS = """
INSERT INTO orders (order_id)
SELECT id FROM unnest($1::text[]) AS id ORDER BY id
ON CONFLICT DO NOTHING
"""
LOCK_ORDERS = "SELECT * FROM orders WHERE order_id = ANY($1) ORDER BY order_id FOR UPDATE"
SELECT_ORDERS = "SELECT * FROM orders WHERE order_id = ANY($1)"
SELECT_LINES = "SELECT * FROM order_lines WHERE order_id = ANY($1)"
SELECT_REFUNDS = "SELECT * FROM oms_refunds WHERE order_id = ANY($1)"
SELECT_REFUND_LINES = (
    "SELECT * FROM oms_refund_lines WHERE order_id = ANY($1) ORDER BY credit_note_number, position"
)
SELECT_RETURNS = "SELECT * FROM returns WHERE order_id = ANY($1)"
SELECT_SHIPMENTS = "SELECT * FROM shipments WHERE order_id = ANY($1)"

UPSERT_ORDER = """
INSERT INTO orders (order_id, known, store, currency, taxation, status, status_reason,
    status_date, vat_country, customer_id, customer_type, customer_segment, customer_email,
    language, payment_method, payment_reference, cancelled_line_ids, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, now())
ON CONFLICT (order_id) DO UPDATE SET
    known = EXCLUDED.known, store = EXCLUDED.store, currency = EXCLUDED.currency,
    taxation = EXCLUDED.taxation, status = EXCLUDED.status,
    status_reason = EXCLUDED.status_reason, status_date = EXCLUDED.status_date,
    vat_country = EXCLUDED.vat_country, customer_id = EXCLUDED.customer_id,
    customer_type = EXCLUDED.customer_type, customer_segment = EXCLUDED.customer_segment,
    customer_email = EXCLUDED.customer_email, language = EXCLUDED.language,
    payment_method = EXCLUDED.payment_method, payment_reference = EXCLUDED.payment_reference,
    cancelled_line_ids = EXCLUDED.cancelled_line_ids, updated_at = now()
"""
UPSERT_LINE = """
INSERT INTO order_lines (order_id, line_id, line_number, product_type, bucket, sku,
    product_name, quantity, status, payment_reference, gross_minor, tax_minor, tax_rate,
    paid_gross_minor, paid_tax_minor, dropped)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (order_id, line_id) DO UPDATE SET
    line_number = EXCLUDED.line_number, product_type = EXCLUDED.product_type,
    bucket = EXCLUDED.bucket, sku = EXCLUDED.sku, product_name = EXCLUDED.product_name,
    quantity = EXCLUDED.quantity, status = EXCLUDED.status,
    payment_reference = EXCLUDED.payment_reference, gross_minor = EXCLUDED.gross_minor,
    tax_minor = EXCLUDED.tax_minor, tax_rate = EXCLUDED.tax_rate,
    paid_gross_minor = EXCLUDED.paid_gross_minor, paid_tax_minor = EXCLUDED.paid_tax_minor,
    dropped = EXCLUDED.dropped
"""
UPSERT_REFUND = """
INSERT INTO oms_refunds (order_id, credit_note_number, refund_type, status, rma, status_date)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (order_id, credit_note_number) DO UPDATE SET
    refund_type = EXCLUDED.refund_type, status = EXCLUDED.status, rma = EXCLUDED.rma,
    status_date = EXCLUDED.status_date
"""
DELETE_REFUND_LINES = "DELETE FROM oms_refund_lines WHERE order_id = ANY($1)"
INSERT_REFUND_LINE = """
INSERT INTO oms_refund_lines (order_id, credit_note_number, position, order_line,
    cost_gross, cost_tax)
VALUES ($1, $2, $3, $4, $5, $6)
"""
UPSERT_RETURN = """
INSERT INTO returns (order_id, rma, status, received, status_date, line_numbers)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (order_id, rma) DO UPDATE SET
    status = EXCLUDED.status, received = EXCLUDED.received,
    status_date = EXCLUDED.status_date, line_numbers = EXCLUDED.line_numbers
"""
UPSERT_SHIPMENT = """
INSERT INTO shipments (order_id, shipment_id, shipped_at, method, line_ids, tracking_numbers,
    carriers)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (order_id, shipment_id) DO NOTHING
"""


async def record_inbox(
    connection: asyncpg.Connection,
    consumer: str,
    messages: Sequence[tuple[str, str, str | None]],
) -> set[str]:
    """Insert (id, method, order id) rows; return the ids that were new."""
    ids, methods, orders = zip(*messages, strict=True) if messages else ((), (), ())
    rows = await connection.fetch(RECORD_INBOX, consumer, list(ids), list(methods), list(orders))
    return {row["message_id"] for row in rows}


async def lock_orders(connection: asyncpg.Connection, order_ids: Iterable[str]) -> dict[str, OrderState]:
    """Lock the orders' rows in primary-key order, creating them if new, and load them."""
    ids = sorted(set(order_ids))
    await connection.execute(ENSURE_ORDERS, ids)
    order_rows = await connection.fetch(LOCK_ORDERS, ids)
    return await _assemble(connection, ids, order_rows)


async def load_orders(connection: asyncpg.Connection, order_ids: Iterable[str]) -> dict[str, OrderState]:
    """Read the orders from one snapshot, so that no table is seen at another moment."""
    ids = sorted(set(order_ids))
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        return await _assemble(connection, ids, await connection.fetch(SELECT_ORDERS, ids))


async def _assemble(
    connection: asyncpg.Connection, ids: list[str], order_rows: list[asyncpg.Record]
) -> dict[str, OrderState]:
    states = {row["order_id"]: _order(row) for row in order_rows}
    for row in await connection.fetch(SELECT_LINES, ids):
        states[row["order_id"]].lines[row["line_id"]] = _line(row)
    refund_lines: dict[tuple[str, str], list[RefundLineAmount]] = {}
    for row in await connection.fetch(SELECT_REFUND_LINES, ids):
        refund_lines.setdefault((row["order_id"], row["credit_note_number"]), []).append(
            RefundLineAmount(row["order_line"], row["cost_gross"], row["cost_tax"])
        )
    for row in await connection.fetch(SELECT_REFUNDS, ids):
        key = (row["order_id"], row["credit_note_number"])
        states[row["order_id"]].refunds[row["credit_note_number"]] = OmsRefund(
            row["credit_note_number"],
            row["refund_type"],
            row["status"],
            tuple(refund_lines.get(key, ())),
            row["rma"],
            row["status_date"],
        )
    for row in await connection.fetch(SELECT_RETURNS, ids):
        states[row["order_id"]].returns[row["rma"]] = ReturnState(
            row["rma"], row["status"], tuple(row["line_numbers"]), row["received"], row["status_date"]
        )
    for row in await connection.fetch(SELECT_SHIPMENTS, ids):
        states[row["order_id"]].shipments[row["shipment_id"]] = Shipment(
            row["shipment_id"],
            row["shipped_at"],
            row["method"],
            tuple(row["line_ids"]),
            tuple(row["tracking_numbers"]),
            tuple(row["carriers"]),
        )
    return states


async def save_orders(connection: asyncpg.Connection, states: Iterable[OrderState]) -> None:
    """Write the orders back; executemany pipelines each table's rows in one round trip."""
    states = sorted(states, key=lambda state: state.order_id)
    if not states:
        return
    await connection.executemany(UPSERT_ORDER, [_order_row(s) for s in states])
    await connection.executemany(
        UPSERT_LINE, [_line_row(s.order_id, line) for s in states for line in s.lines.values()]
    )
    await connection.executemany(
        UPSERT_REFUND,
        [
            (s.order_id, r.credit_note_number, r.refund_type, r.status, r.rma, r.status_date)
            for s in states
            for r in s.refunds.values()
        ],
    )
    await connection.execute(DELETE_REFUND_LINES, [s.order_id for s in states])
    await connection.executemany(
        INSERT_REFUND_LINE,
        [
            (s.order_id, r.credit_note_number, position, piece.order_line, piece.gross, piece.tax)
            for s in states
            for r in s.refunds.values()
            for position, piece in enumerate(r.lines)
        ],
    )
    await connection.executemany(
        UPSERT_RETURN,
        [
            (s.order_id, r.rma, r.status, r.received, r.status_date, list(r.line_numbers))
            for s in states
            for r in s.returns.values()
        ],
    )
    await connection.executemany(
        UPSERT_SHIPMENT,
        [
            (s.order_id, sh.shipment_id, sh.shipped_at, sh.method, list(sh.line_ids),
             list(sh.tracking_numbers), list(sh.carriers))
            for s in states
            for sh in s.shipments.values()
        ],
    )


def _order(row: asyncpg.Record) -> OrderState:
    return OrderState(
        order_id=row["order_id"],
        known=row["known"],
        store=row["store"],
        currency=row["currency"],
        taxation=row["taxation"],
        status=row["status"],
        status_reason=row["status_reason"],
        status_date=row["status_date"],
        vat_country=row["vat_country"],
        customer=Customer(
            row["customer_id"],
            row["customer_type"],
            row["customer_segment"],
            row["customer_email"],
            row["language"],
        ),
        payment_method=row["payment_method"],
        payment_reference=row["payment_reference"],
        cancelled_line_ids=set(row["cancelled_line_ids"]),
    )


def _order_row(state: OrderState) -> tuple[object, ...]:
    customer = state.customer
    return (
        state.order_id, state.known, state.store, state.currency, state.taxation, state.status,
        state.status_reason, state.status_date, state.vat_country, customer.id, customer.type,
        customer.segment, customer.email, customer.language, state.payment_method,
        state.payment_reference, sorted(state.cancelled_line_ids),
    )


def _line(row: asyncpg.Record) -> LineState:
    return LineState(
        line_id=row["line_id"],
        line_number=row["line_number"],
        product_type=row["product_type"],
        bucket=row["bucket"],
        sku=row["sku"],
        quantity=row["quantity"],
        gross=row["gross_minor"],
        tax=row["tax_minor"],
        paid_gross=row["paid_gross_minor"],
        paid_tax=row["paid_tax_minor"],
        tax_rate=row["tax_rate"],
        product_name=row["product_name"],
        status=row["status"],
        payment_reference=row["payment_reference"],
        dropped=row["dropped"],
    )


def _line_row(order_id: str, line: LineState) -> tuple[object, ...]:
    return (
        order_id, line.line_id, line.line_number, line.product_type, line.bucket, line.sku,
        line.product_name, line.quantity, line.status, line.payment_reference, line.gross,
        line.tax, line.tax_rate, line.paid_gross, line.paid_tax, line.dropped,
    )


LOCK_ONE_ORDER = "SELECT * FROM orders WHERE order_id = $1 FOR UPDATE"


async def lock_existing_order(connection: asyncpg.Connection, order_id: str) -> OrderState | None:
    """Lock one order the OMS told us about, for a decision that reads and reserves its balance."""
    row = await connection.fetchrow(LOCK_ONE_ORDER, order_id)
    if row is None or not row["known"]:
        return None
    return (await _assemble(connection, [order_id], [row]))[order_id]

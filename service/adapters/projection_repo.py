"""Load and store order projections; the inbox that makes redelivery harmless."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg
import msgspec

from service.domain.events import Customer, RefundLineAmount
from service.domain.projection import (
    LineState,
    OmsRefund,
    OrderState,
    ReturnState,
    Shipment,
)

#: Rows as JSON for json_populate_recordset: Decimal as its digits, datetimes as RFC 3339.
_JSON = msgspec.json.Encoder(decimal_format="string")

RECORD_INBOX = """
INSERT INTO inbox (consumer, message_id, method, order_id)
SELECT $1, m ->> 0, m ->> 1, m ->> 2 FROM json_array_elements($2::json) AS m
ON CONFLICT DO NOTHING
RETURNING message_id
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

#: One statement per table and batch: the rows travel as one JSON array of objects named
#: like the table's columns (encoded by msgspec, read by json_populate_recordset). A row the
#: event left as it was is not rewritten: an OMS re-sending a snapshot leaves no dead tuple.
_WRITE_ORDERS = """
INSERT INTO orders (order_id, known, store, currency, taxation, status, status_reason,
    status_date, vat_country, customer_id, customer_type, customer_segment, customer_email,
    language, payment_method, payment_reference, cancelled_line_ids, updated_at)
SELECT m.order_id, m.known, m.store, m.currency, m.taxation, m.status, m.status_reason,
    m.status_date, m.vat_country, m.customer_id, m.customer_type, m.customer_segment,
    m.customer_email, m.language, m.payment_method, m.payment_reference,
    m.cancelled_line_ids, now()
FROM json_populate_recordset(NULL::orders, $1::json) AS m
ORDER BY m.order_id
"""
#: Orders this transaction found no row for; one that another transaction stored meanwhile
#: is not overwritten but left out of the returned ids.
INSERT_ORDERS = _WRITE_ORDERS + "ON CONFLICT (order_id) DO NOTHING RETURNING order_id"
UPSERT_ORDERS = _WRITE_ORDERS + """ON CONFLICT (order_id) DO UPDATE SET
    known = EXCLUDED.known, store = EXCLUDED.store, currency = EXCLUDED.currency,
    taxation = EXCLUDED.taxation, status = EXCLUDED.status,
    status_reason = EXCLUDED.status_reason, status_date = EXCLUDED.status_date,
    vat_country = EXCLUDED.vat_country, customer_id = EXCLUDED.customer_id,
    customer_type = EXCLUDED.customer_type, customer_segment = EXCLUDED.customer_segment,
    customer_email = EXCLUDED.customer_email, language = EXCLUDED.language,
    payment_method = EXCLUDED.payment_method, payment_reference = EXCLUDED.payment_reference,
    cancelled_line_ids = EXCLUDED.cancelled_line_ids, updated_at = now()
WHERE (orders.known, orders.store, orders.currency, orders.taxation, orders.status,
    orders.status_reason, orders.status_date, orders.vat_country, orders.customer_id,
    orders.customer_type, orders.customer_segment, orders.customer_email, orders.language,
    orders.payment_method, orders.payment_reference, orders.cancelled_line_ids)
  IS DISTINCT FROM (EXCLUDED.known, EXCLUDED.store, EXCLUDED.currency, EXCLUDED.taxation,
    EXCLUDED.status, EXCLUDED.status_reason, EXCLUDED.status_date, EXCLUDED.vat_country,
    EXCLUDED.customer_id, EXCLUDED.customer_type, EXCLUDED.customer_segment,
    EXCLUDED.customer_email, EXCLUDED.language, EXCLUDED.payment_method,
    EXCLUDED.payment_reference, EXCLUDED.cancelled_line_ids)
"""
#: The lines of orders inserted by the same transaction: none of them can be stored yet.
INSERT_LINES = """
INSERT INTO order_lines (order_id, line_id, line_number, product_type, bucket, sku,
    product_name, quantity, status, payment_reference, gross_minor, tax_minor, tax_rate,
    paid_gross_minor, paid_tax_minor, dropped)
SELECT m.order_id, m.line_id, m.line_number, m.product_type, m.bucket, m.sku, m.product_name,
    m.quantity, m.status, m.payment_reference, m.gross_minor, m.tax_minor, m.tax_rate,
    m.paid_gross_minor, m.paid_tax_minor, m.dropped
FROM json_populate_recordset(NULL::order_lines, $1::json) AS m
"""
UPSERT_LINES = INSERT_LINES + """ON CONFLICT (order_id, line_id) DO UPDATE SET
    line_number = EXCLUDED.line_number, product_type = EXCLUDED.product_type,
    bucket = EXCLUDED.bucket, sku = EXCLUDED.sku, product_name = EXCLUDED.product_name,
    quantity = EXCLUDED.quantity, status = EXCLUDED.status,
    payment_reference = EXCLUDED.payment_reference, gross_minor = EXCLUDED.gross_minor,
    tax_minor = EXCLUDED.tax_minor, tax_rate = EXCLUDED.tax_rate,
    paid_gross_minor = EXCLUDED.paid_gross_minor, paid_tax_minor = EXCLUDED.paid_tax_minor,
    dropped = EXCLUDED.dropped
WHERE (order_lines.line_number, order_lines.product_type, order_lines.bucket, order_lines.sku,
    order_lines.product_name, order_lines.quantity, order_lines.status,
    order_lines.payment_reference, order_lines.gross_minor, order_lines.tax_minor,
    order_lines.tax_rate, order_lines.paid_gross_minor, order_lines.paid_tax_minor,
    order_lines.dropped)
  IS DISTINCT FROM (EXCLUDED.line_number, EXCLUDED.product_type, EXCLUDED.bucket, EXCLUDED.sku,
    EXCLUDED.product_name, EXCLUDED.quantity, EXCLUDED.status, EXCLUDED.payment_reference,
    EXCLUDED.gross_minor, EXCLUDED.tax_minor, EXCLUDED.tax_rate, EXCLUDED.paid_gross_minor,
    EXCLUDED.paid_tax_minor, EXCLUDED.dropped)
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
    rows = await connection.fetch(RECORD_INBOX, consumer, _JSON.encode(messages).decode())
    return {row["message_id"] for row in rows}


class OrderStoredMeanwhile(Exception):
    """An order this transaction found no row for was stored by another one before it could
    insert it: what was folded from nothing must be folded again from what is stored."""

    def __init__(self, order_ids: Iterable[str]) -> None:
        self.order_ids = sorted(order_ids)
        super().__init__(f"orders stored meanwhile: {', '.join(self.order_ids)}")


@dataclass(slots=True)
class LockedOrders:
    """Orders a transaction holds: the stored ones locked and loaded, the others (`new`)
    empty, stored by `save_orders` with a plain insert."""

    states: dict[str, OrderState]
    new: set[str]


async def lock_orders(connection: asyncpg.Connection, order_ids: Iterable[str]) -> LockedOrders:
    """Lock the stored orders' rows in primary-key order and load them; the others are new.

    A new order has no row to lock: two transactions may both fold one from nothing, and
    the second to insert it gets OrderStoredMeanwhile from `save_orders` (rolled back, it
    is applied again, now on the stored order). An order is written once, not created
    empty and then updated."""
    ids = sorted(set(order_ids))
    rows = await connection.fetch(LOCK_ORDERS, ids) if ids else []
    stored = [row["order_id"] for row in rows]
    states = await _assemble(connection, stored, rows) if stored else {}
    new = set(ids).difference(states)
    states.update((order_id, OrderState(order_id)) for order_id in new)
    return LockedOrders(states, new)


async def load_orders(connection: asyncpg.Connection, order_ids: Iterable[str]) -> dict[str, OrderState]:
    """Read the orders from one snapshot, so that no table is seen at another moment."""
    ids = sorted(set(order_ids))
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        return await _assemble(connection, ids, await connection.fetch(SELECT_ORDERS, ids))


async def _assemble(
    connection: asyncpg.Connection, ids: list[str], order_rows: list[asyncpg.Record]
) -> dict[str, OrderState]:
    return build_orders(
        order_rows,
        lines=await connection.fetch(SELECT_LINES, ids),
        refund_lines=await connection.fetch(SELECT_REFUND_LINES, ids),
        refunds=await connection.fetch(SELECT_REFUNDS, ids),
        returns=await connection.fetch(SELECT_RETURNS, ids),
        shipments=await connection.fetch(SELECT_SHIPMENTS, ids),
    )


def build_orders(
    order_rows: Iterable[asyncpg.Record], *, lines: Iterable[asyncpg.Record],
    refund_lines: Iterable[asyncpg.Record], refunds: Iterable[asyncpg.Record],
    returns: Iterable[asyncpg.Record], shipments: Iterable[asyncpg.Record],
) -> dict[str, OrderState]:
    """Orders from their rows and their children's rows (refund lines in credit note and
    position order)."""
    states = {row["order_id"]: _order(row) for row in order_rows}
    for row in lines:
        states[row["order_id"]].lines[row["line_id"]] = _line(row)
    pieces: dict[tuple[str, str], list[RefundLineAmount]] = {}
    for row in refund_lines:
        pieces.setdefault((row["order_id"], row["credit_note_number"]), []).append(
            RefundLineAmount(row["order_line"], row["cost_gross"], row["cost_tax"])
        )
    for row in refunds:
        key = (row["order_id"], row["credit_note_number"])
        states[row["order_id"]].refunds[row["credit_note_number"]] = OmsRefund(
            row["credit_note_number"],
            row["refund_type"],
            row["status"],
            tuple(pieces.get(key, ())),
            row["rma"],
            row["status_date"],
        )
    for row in returns:
        states[row["order_id"]].returns[row["rma"]] = ReturnState(
            row["rma"], row["status"], tuple(row["line_numbers"]), row["received"], row["status_date"]
        )
    for row in shipments:
        states[row["order_id"]].shipments[row["shipment_id"]] = _shipment(row)
    return states


SELECT_KNOWN = "SELECT known FROM orders WHERE order_id = $1"
SELECT_ORDER_SHIPMENTS = """
SELECT * FROM shipments WHERE order_id = $1 ORDER BY shipped_at NULLS LAST, shipment_id
"""


async def load_shipments(connection: asyncpg.Connection, order_id: str) -> list[Shipment] | None:
    """The order's shipments, earliest first (undated ones last); None for an order the OMS
    never told us about. Shipments are only ever added, so no snapshot is needed."""
    if not await connection.fetchval(SELECT_KNOWN, order_id):
        return None
    return [_shipment(row) for row in await connection.fetch(SELECT_ORDER_SHIPMENTS, order_id)]


def _shipment(row: asyncpg.Record) -> Shipment:
    return Shipment(
        row["shipment_id"],
        row["shipped_at"],
        row["method"],
        tuple(row["line_ids"]),
        tuple(row["tracking_numbers"]),
        tuple(row["carriers"]),
    )


async def save_orders(connection: asyncpg.Connection, locked: LockedOrders) -> None:
    """Write the orders back: one set-based statement per table that has rows to write.

    Raises OrderStoredMeanwhile when a new order was stored by another transaction."""
    states = sorted(locked.states.values(), key=lambda state: state.order_id)
    if not states:
        return
    new = [s for s in states if s.order_id in locked.new]
    stored = [s for s in states if s.order_id not in locked.new]
    if new:
        inserted = await connection.fetch(
            INSERT_ORDERS, _JSON.encode([_order_row(s) for s in new]).decode()
        )
        if len(inserted) < len(new):
            raise OrderStoredMeanwhile(
                locked.new.difference(row["order_id"] for row in inserted)
            )
    if stored:
        await connection.execute(
            UPSERT_ORDERS, _JSON.encode([_order_row(s) for s in stored]).decode()
        )
    for statement, written in ((INSERT_LINES, new), (UPSERT_LINES, stored)):
        lines = [_line_row(s.order_id, line) for s in written for line in s.lines.values()]
        if lines:
            await connection.execute(statement, _JSON.encode(lines).decode())
    with_refunds = [s for s in states if s.refunds]
    if with_refunds:
        await connection.executemany(
            UPSERT_REFUND,
            [
                (s.order_id, r.credit_note_number, r.refund_type, r.status, r.rma, r.status_date)
                for s in with_refunds
                for r in s.refunds.values()
            ],
        )
        await connection.execute(DELETE_REFUND_LINES, [s.order_id for s in with_refunds])
        refund_lines = [
            (s.order_id, r.credit_note_number, position, piece.order_line, piece.gross, piece.tax)
            for s in with_refunds
            for r in s.refunds.values()
            for position, piece in enumerate(r.lines)
        ]
        if refund_lines:
            await connection.executemany(INSERT_REFUND_LINE, refund_lines)
    returns = [
        (s.order_id, r.rma, r.status, r.received, r.status_date, list(r.line_numbers))
        for s in states
        for r in s.returns.values()
    ]
    if returns:
        await connection.executemany(UPSERT_RETURN, returns)
    shipments = [
        (s.order_id, sh.shipment_id, sh.shipped_at, sh.method, list(sh.line_ids),
         list(sh.tracking_numbers), list(sh.carriers))
        for s in states
        for sh in s.shipments.values()
    ]
    if shipments:
        await connection.executemany(UPSERT_SHIPMENT, shipments)



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


def _order_row(state: OrderState) -> dict[str, object]:
    customer = state.customer
    return {
        "order_id": state.order_id, "known": state.known, "store": state.store,
        "currency": state.currency, "taxation": state.taxation, "status": state.status,
        "status_reason": state.status_reason, "status_date": state.status_date,
        "vat_country": state.vat_country, "customer_id": customer.id,
        "customer_type": customer.type, "customer_segment": customer.segment,
        "customer_email": customer.email, "language": customer.language,
        "payment_method": state.payment_method, "payment_reference": state.payment_reference,
        "cancelled_line_ids": sorted(state.cancelled_line_ids),
    }


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


def _line_row(order_id: str, line: LineState) -> dict[str, object]:
    return {
        "order_id": order_id, "line_id": line.line_id, "line_number": line.line_number,
        "product_type": line.product_type, "bucket": line.bucket, "sku": line.sku,
        "product_name": line.product_name, "quantity": line.quantity, "status": line.status,
        "payment_reference": line.payment_reference, "gross_minor": line.gross,
        "tax_minor": line.tax, "tax_rate": line.tax_rate, "paid_gross_minor": line.paid_gross,
        "paid_tax_minor": line.paid_tax, "dropped": line.dropped,
    }


LOCK_ONE_ORDER = "SELECT * FROM orders WHERE order_id = $1 FOR UPDATE"


async def lock_existing_order(connection: asyncpg.Connection, order_id: str) -> OrderState | None:
    """Lock one order the OMS told us about, for a decision that reads and reserves its balance."""
    row = await connection.fetchrow(LOCK_ONE_ORDER, order_id)
    if row is None or not row["known"]:
        return None
    return (await _assemble(connection, [order_id], [row]))[order_id]

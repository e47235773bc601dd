"""What a decision reads and writes, each in as few statements as the locks allow.

Reading takes two: the customer's advisory lock and the order's row lock in one statement,
then everything else in one statement, which in READ COMMITTED sees whatever committed
before the locks were granted. Writing a grant takes one statement: the
appeasement, its allocation, its first transition, its outbox messages and the relays'
wake-up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from service.adapters import projection_repo, trace_context
from service.adapters.outbox import NOTIFY_CHANNEL, Message
from service.domain.appeasement import Piece
from service.domain.balance import Amounts
from service.domain.projection import OrderState

#: The order's customer (a transaction-scoped advisory lock), then the order's row, in one
#: statement: the lock is taken in the scan, below the row lock. When the row was changed
#: while this waited for it, the statement is evaluated again on the new row: a customer a
#: snapshot moved the order to is locked too.
LOCK_ORDER = """
SELECT o.*,
       CASE WHEN o.customer_id IS NOT NULL THEN pg_advisory_xact_lock(hashtextextended(
           'customer:' || o.customer_id || ':' || coalesce(o.currency, ''), 0)) END AS locked
FROM orders o WHERE o.order_id = $1
FOR UPDATE
"""


def _held_by_key(channel: str, key: str) -> str:
    """What an idempotency key answered: a grant, or a stored refusal (never both)."""
    return f"""
    SELECT appeasement_id, request_hash, first_response::text AS first_response,
           NULL AS code, NULL AS message, NULL AS details
    FROM appeasements WHERE channel = {channel} AND idempotency_key = {key}
    UNION ALL
    SELECT NULL, request_hash, NULL, code, message, details::text
    FROM appeasement_rejections WHERE channel = {channel} AND idempotency_key = {key}
    LIMIT 1"""


# $1 order, $2 reason, $3 customer, $4 currency, $5 window in days, $6 appeasement left out,
# $7 channel, $8 idempotency key. What is appeased and let out comes from the running totals
# (migration 0011): a few rows however many appeasements the order or customer has. The
# customer's window is whole UTC days from the totals, plus its first day's appeasements
# from their own rows.
CONTEXT = f"""
SELECT now() AS now,
    ARRAY(SELECT l FROM order_lines l WHERE l.order_id = $1) AS lines,
    ARRAY(SELECT r FROM oms_refunds r WHERE r.order_id = $1) AS refunds,
    ARRAY(SELECT rl FROM oms_refund_lines rl WHERE rl.order_id = $1
          ORDER BY rl.credit_note_number, rl.position) AS refund_lines,
    ARRAY(SELECT r FROM returns r WHERE r.order_id = $1) AS returns,
    ARRAY(SELECT s FROM shipments s WHERE s.order_id = $1) AS shipments,
    appeased.lines AS appeased_lines, appeased.gross AS appeased_gross,
    appeased.tax AS appeased_tax,
    by_order.on_order - coalesce(left_out.on_order, 0) AS on_order,
    by_order.for_reason - coalesce(left_out.for_reason, 0) AS for_reason,
    by_customer.in_window - coalesce(left_out.for_customer, 0) AS for_customer,
    held.appeasement_id AS held_appeasement_id, held.request_hash AS held_request_hash,
    held.first_response AS held_first_response, held.code AS held_code,
    held.message AS held_message, held.details AS held_details
FROM (
    SELECT array_agg(order_line) AS lines, array_agg(gross_minor) AS gross,
        array_agg(tax_minor) AS tax
    FROM appeased_by_line
    WHERE order_id = $1 AND (gross_minor <> 0 OR tax_minor <> 0)
) appeased
CROSS JOIN (
    SELECT coalesce(sum(granted_minor), 0) AS on_order,
        coalesce(sum(held_minor) FILTER (WHERE reason = $2), 0) AS for_reason
    FROM appeased_by_reason WHERE order_id = $1
) by_order
CROSS JOIN (
    SELECT since, (since AT TIME ZONE 'UTC')::date AS first_day
    FROM (SELECT now() - make_interval(days => $5) AS since) w
) window_
CROSS JOIN LATERAL (
    SELECT coalesce((
        SELECT sum(granted_minor) FROM granted_by_customer_day
        WHERE customer_id = $3 AND currency = $4 AND day > window_.first_day
    ), 0) + coalesce((
        SELECT sum(amount_minor) FROM appeasements
        WHERE customer_id = $3 AND currency = $4 AND appeasement_granted(status)
          AND created_at >= window_.since
          AND created_at < (window_.first_day + 1)::timestamp AT TIME ZONE 'UTC'
    ), 0) AS in_window
) by_customer
LEFT JOIN LATERAL (
    SELECT
        CASE WHEN order_id = $1 AND appeasement_granted(status)
             THEN amount_minor ELSE 0 END AS on_order,
        CASE WHEN order_id = $1 AND reason = $2 AND appeasement_holds_money(status)
             THEN amount_minor ELSE 0 END AS for_reason,
        CASE WHEN customer_id = $3 AND currency = $4 AND appeasement_granted(status)
                  AND created_at >= window_.since
             THEN amount_minor ELSE 0 END AS for_customer
    FROM appeasements WHERE appeasement_id = $6
) left_out ON true
LEFT JOIN LATERAL ({_held_by_key("$7", "$8")}
) held ON true
"""

WRITE_GRANT = f"""
WITH appeasement AS (
    INSERT INTO appeasements (appeasement_id, order_id, channel, idempotency_key, request_hash,
        command_id, status, reason, comment, claim_id, invoice_reference, refund_method,
        requested_by, role, currency, taxation, amount_minor, first_response, customer_id,
        bank_details, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21, $21)
    RETURNING appeasement_id
), allocation AS (
    INSERT INTO appeasement_allocations (appeasement_id, position, order_line, bucket,
        gross_minor, tax_minor, tax_rate, quantity)
    SELECT a.appeasement_id, p.position, p.order_line, p.bucket, p.gross, p.tax, p.rate,
        p.quantity
    FROM appeasement a, unnest($22::integer[], $23::text[], $24::text[], $25::bigint[],
        $26::bigint[], $27::numeric[], $28::integer[])
        AS p (position, order_line, bucket, gross, tax, rate, quantity)
), transition AS (
    INSERT INTO appeasement_transitions (appeasement_id, position, from_status, to_status,
        actor, role, reason, comment, at)
    SELECT appeasement_id, 1, NULL, $7, $13, $14, $8, $9, $21 FROM appeasement
), queued AS (
    INSERT INTO outbox (topic, key, message_id, payload, sealed, traceparent, tracestate)
    SELECT m.*, $34::text, $35::text
    FROM unnest($29::text[], $30::text[], $31::text[], $32::text[], $33::boolean[]) AS m
)
SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM appeasement
"""


@dataclass(frozen=True, slots=True)
class Held:
    """What an idempotency key already answered: a grant, or a refusal."""

    appeasement_id: str | None
    request_hash: str
    first_response: dict[str, Any] | None
    code: str | None
    message: str | None
    details: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything a decision reads, seen after its locks were granted. Money in minor units."""

    order: OrderState
    now: datetime
    appeased: dict[str, Amounts]
    on_order: int
    for_reason: int
    for_customer: int
    held: Held | None


async def lock_order(connection: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    """Lock the order's customer, then the order; the order's row, or None when unknown."""
    row = await connection.fetchrow(LOCK_ORDER, order_id)
    return row if row is not None and row["known"] else None


async def prepare_connection(connection: asyncpg.Connection) -> None:
    """Ready a new connection for decisions: the statements a grant reads with prepared, the
    row types they return known, with an order id no order has (so nothing is locked)."""
    await connection.fetchrow(LOCK_ORDER, "")
    await connection.fetchrow(CONTEXT, "", "", None, None, 1, None, None, None)


READ_ORDER = "SELECT * FROM orders WHERE order_id = $1 AND known"
FIND_BY_KEY = _held_by_key("$1", "$2")


async def read_order(connection: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    """The order's row, unlocked (a preview reserves nothing); None when unknown."""
    return await connection.fetchrow(READ_ORDER, order_id)


async def find_by_key(connection: asyncpg.Connection, channel: str, key: str) -> Held | None:
    """What an idempotency key answered, for a request naming an order we do not know."""
    row = await connection.fetchrow(FIND_BY_KEY, channel, key)
    return None if row is None else _held(row, "")


async def load_context(
    connection: asyncpg.Connection, order_row: asyncpg.Record, *, reason: str | None,
    window_days: int, leaving_out: str | None = None, key: tuple[str, str] | None = None,
) -> DecisionContext:
    """The locked order with its balance inputs, what the limits count, and what the
    idempotency key already answered; one statement."""
    order_id = order_row["order_id"]
    channel, idempotency_key = key or (None, None)
    row = await connection.fetchrow(
        CONTEXT, order_id, reason, order_row["customer_id"], order_row["currency"], window_days,
        leaving_out, channel, idempotency_key,
    )
    order = projection_repo.build_orders(
        [order_row], lines=row["lines"], refund_lines=row["refund_lines"],
        refunds=row["refunds"], returns=row["returns"], shipments=row["shipments"],
    )[order_id]
    appeased = {
        line: Amounts(int(gross), int(tax))
        for line, gross, tax in zip(
            row["appeased_lines"] or (), row["appeased_gross"] or (), row["appeased_tax"] or (),
            strict=True,
        )
    }
    held = None if row["held_request_hash"] is None else _held(row, "held_")
    return DecisionContext(
        order=order, now=row["now"], appeased=appeased, on_order=int(row["on_order"]),
        for_reason=int(row["for_reason"]), for_customer=int(row["for_customer"]), held=held,
    )


async def write_grant(
    connection: asyncpg.Connection, row: dict[str, Any], pieces: Sequence[Piece],
    messages: Sequence[Message],
) -> None:
    """The appeasement as `row` describes it (its first answer included), its allocation,
    its first transition (at `row["created_at"]`) and its outbox messages, which carry the
    current trace."""
    positions = range(1, len(pieces) + 1)
    await connection.execute(
        WRITE_GRANT,
        row["appeasement_id"], row["order_id"], row["channel"], row["idempotency_key"],
        row["request_hash"], row["command_id"], row["status"], row["reason"], row["comment"],
        row["claim_id"], row["invoice_reference"],
        None if row["refund_method"] is None else json.dumps(row["refund_method"]),
        row["requested_by"], row["role"], row["currency"], row["taxation"], row["amount_minor"],
        json.dumps(row["first_response"]), row["customer_id"], row["bank_details"],
        row["created_at"],
        list(positions), [p.order_line for p in pieces], [p.bucket for p in pieces],
        [p.gross for p in pieces], [p.tax for p in pieces], [p.tax_rate for p in pieces],
        [p.quantity for p in pieces],
        [m.topic for m in messages], [m.key for m in messages],
        [m.message_id for m in messages], [m.payload for m in messages],
        [m.sealed for m in messages], *trace_context.current(),
    )


def _held(row: asyncpg.Record, prefix: str) -> Held:
    return Held(
        appeasement_id=row[f"{prefix}appeasement_id"],
        request_hash=row[f"{prefix}request_hash"],
        first_response=_json(row[f"{prefix}first_response"]),
        code=row[f"{prefix}code"],
        message=row[f"{prefix}message"],
        details=_json(row[f"{prefix}details"]),
    )


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)

"""Appeasements, their allocation, audit trail and rejections, in plain named SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from service.domain.appeasement import Piece
from service.domain.balance import Amounts
from service.domain.lifecycle import GRANTED, HOLDS_MONEY

# What the cumulative limits count, in minor units, in one statement: granted money on the
# order and for the customer (in the order's currency, within the role's window), and what
# the reason holds on the order; `$7` leaves out the appeasement being decided.
ALREADY = """
SELECT
    coalesce(sum(amount_minor) FILTER (
        WHERE order_id = $1 AND status = ANY($6)), 0) AS on_order,
    coalesce(sum(amount_minor) FILTER (
        WHERE order_id = $1 AND reason = $2 AND status = ANY($5)), 0) AS for_reason,
    coalesce(sum(amount_minor) FILTER (
        WHERE customer_id = $3 AND currency = $4 AND status = ANY($6)
          AND created_at >= now() - make_interval(days => $8)), 0) AS for_customer
FROM appeasements
WHERE (order_id = $1 OR (customer_id = $3 AND currency = $4))
  AND appeasement_id IS DISTINCT FROM $7
"""
ORDER_OF = "SELECT order_id FROM appeasements WHERE appeasement_id = $1"
# A key is held by a granted appeasement or by a stored refusal, never both.
FIND_BY_KEY = """
SELECT appeasement_id, request_hash, first_response, NULL AS code, NULL AS message,
       NULL AS details
FROM appeasements WHERE channel = $1 AND idempotency_key = $2
UNION ALL
SELECT NULL, request_hash, NULL, code, message, details
FROM appeasement_rejections WHERE channel = $1 AND idempotency_key = $2
"""
EXISTS = "SELECT 1 FROM appeasements WHERE appeasement_id = $1"
INSERT_APPEASEMENT = """
INSERT INTO appeasements (appeasement_id, order_id, channel, idempotency_key, request_hash,
    command_id, status, reason, comment, claim_id, invoice_reference, refund_method,
    requested_by, role, currency, taxation, amount_minor, first_response, customer_id,
    bank_details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20)
"""
SET_FIRST_RESPONSE = "UPDATE appeasements SET first_response = $2 WHERE appeasement_id = $1"
INSERT_ALLOCATION = """
INSERT INTO appeasement_allocations (appeasement_id, position, order_line, bucket,
    gross_minor, tax_minor, tax_rate, quantity)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
INSERT_TRANSITION = """
INSERT INTO appeasement_transitions (appeasement_id, position, from_status, to_status, actor,
    role, reason, comment)
SELECT $1, coalesce(max(position), 0) + 1, $2, $3, $4, $5, $6, $7
FROM appeasement_transitions WHERE appeasement_id = $1
"""
SET_STATUS = """
UPDATE appeasements SET status = $2, approved_by = coalesce($3, approved_by), updated_at = now()
WHERE appeasement_id = $1
"""
LOCK_APPEASEMENT = "SELECT * FROM appeasements WHERE appeasement_id = $1 FOR UPDATE"
SELECT_APPEASEMENTS = """
SELECT * FROM appeasements WHERE appeasement_id = ANY($1) ORDER BY created_at, appeasement_id
"""
SELECT_HELD = """
SELECT appeasement_id FROM appeasements WHERE status = 'PENDINGAPPROVAL'
ORDER BY created_at, appeasement_id LIMIT $1
"""
SELECT_FOR_ORDER = "SELECT * FROM appeasements WHERE order_id = $1 ORDER BY created_at, appeasement_id"
SELECT_ALLOCATIONS = """
SELECT * FROM appeasement_allocations WHERE appeasement_id = ANY($1) ORDER BY appeasement_id, position
"""
SELECT_TRANSITIONS = """
SELECT * FROM appeasement_transitions WHERE appeasement_id = ANY($1) ORDER BY appeasement_id, position
"""
INSERT_REJECTION = """
INSERT INTO appeasement_rejections (order_id, channel, command_id, actor, role, code, message,
    details, idempotency_key, request_hash, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (channel, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
"""


async def appeased_by_line(connection: asyncpg.Connection, order_id: str) -> dict[str, Amounts]:
    amounts, _ = await appeased_for_orders(connection, [order_id])
    return amounts.get(order_id, {})


async def already(
    connection: asyncpg.Connection, *, order_id: str, reason: str, customer_id: str | None,
    currency: str | None, window_days: int, leaving_out: str | None = None,
) -> tuple[int, int, int]:
    """(granted on the order, held by the reason on the order, granted to the customer)."""
    row = await connection.fetchrow(
        ALREADY, order_id, reason, customer_id, currency, list(HOLDS_MONEY), list(GRANTED),
        leaving_out, window_days,
    )
    return int(row["on_order"]), int(row["for_reason"]), int(row["for_customer"])


async def held(connection: asyncpg.Connection, limit: int) -> list[str]:
    """Appeasements held for approval, oldest first."""
    return [row["appeasement_id"] for row in await connection.fetch(SELECT_HELD, limit)]


async def order_of(connection: asyncpg.Connection, appeasement_id: str) -> str | None:
    return await connection.fetchval(ORDER_OF, appeasement_id)


async def find_by_key(
    connection: asyncpg.Connection, channel: str, key: str
) -> asyncpg.Record | None:
    return await connection.fetchrow(FIND_BY_KEY, channel, key)


async def exists(connection: asyncpg.Connection, appeasement_id: str) -> bool:
    return await connection.fetchval(EXISTS, appeasement_id) is not None


async def insert(
    connection: asyncpg.Connection, row: dict[str, Any], pieces: Sequence[Piece]
) -> None:
    await connection.execute(
        INSERT_APPEASEMENT,
        row["appeasement_id"], row["order_id"], row["channel"], row["idempotency_key"],
        row["request_hash"], row["command_id"], row["status"], row["reason"], row["comment"],
        row["claim_id"], row["invoice_reference"], _json(row["refund_method"]),
        row["requested_by"], row["role"], row["currency"], row["taxation"],
        row["amount_minor"], "{}", row.get("customer_id"), row.get("bank_details"),
    )
    await connection.executemany(
        INSERT_ALLOCATION,
        [
            (row["appeasement_id"], position, p.order_line, p.bucket, p.gross, p.tax, p.tax_rate,
             p.quantity)
            for position, p in enumerate(pieces, start=1)
        ],
    )


async def set_first_response(
    connection: asyncpg.Connection, appeasement_id: str, response: dict[str, Any]
) -> None:
    await connection.execute(SET_FIRST_RESPONSE, appeasement_id, json.dumps(response))


async def add_transition(
    connection: asyncpg.Connection,
    appeasement_id: str,
    from_status: str | None,
    to_status: str,
    *,
    actor: str,
    role: str | None = None,
    reason: str | None = None,
    comment: str | None = None,
) -> None:
    await connection.execute(
        INSERT_TRANSITION, appeasement_id, from_status, to_status, actor, role, reason, comment
    )


async def set_status(
    connection: asyncpg.Connection, appeasement_id: str, status: str, approved_by: str | None = None
) -> None:
    await connection.execute(SET_STATUS, appeasement_id, status, approved_by)


async def lock(connection: asyncpg.Connection, appeasement_id: str) -> asyncpg.Record | None:
    return await connection.fetchrow(LOCK_APPEASEMENT, appeasement_id)


async def record_rejection(
    connection: asyncpg.Connection,
    *,
    order_id: str,
    channel: str,
    command_id: str,
    actor: str | None,
    role: str | None,
    code: str,
    message: str,
    details: dict[str, Any],
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    reason: str | None = None,
) -> None:
    """Audit a refusal; with an idempotency key it also answers that key from now on."""
    await connection.execute(
        INSERT_REJECTION, order_id, channel, command_id, actor, role, code, message,
        json.dumps(details, default=str), idempotency_key, request_hash, reason,
    )


async def load(
    connection: asyncpg.Connection, appeasement_ids: Sequence[str] | None = None,
    *, order_id: str | None = None,
) -> list[dict[str, Any]]:
    """Appeasements with their allocation and transitions, as plain dicts."""
    if order_id is not None:
        rows = await connection.fetch(SELECT_FOR_ORDER, order_id)
    else:
        rows = await connection.fetch(SELECT_APPEASEMENTS, list(appeasement_ids or ()))
    ids = [row["appeasement_id"] for row in rows]
    allocations: dict[str, list[asyncpg.Record]] = {}
    for row in await connection.fetch(SELECT_ALLOCATIONS, ids):
        allocations.setdefault(row["appeasement_id"], []).append(row)
    transitions: dict[str, list[asyncpg.Record]] = {}
    for row in await connection.fetch(SELECT_TRANSITIONS, ids):
        transitions.setdefault(row["appeasement_id"], []).append(row)
    return [
        {
            **dict(row),
            "refund_method": json.loads(row["refund_method"]) if row["refund_method"] else None,
            "pieces": [
                Piece(a["order_line"], a["bucket"], a["gross_minor"], a["tax_minor"], a["tax_rate"],
                      a["quantity"])
                for a in allocations.get(row["appeasement_id"], [])
            ],
            "transitions": [dict(t) for t in transitions.get(row["appeasement_id"], [])],
        }
        for row in rows
    ]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


ORDER_KNOWN = "SELECT known FROM orders WHERE order_id = $1"
SELECT_REJECTIONS = """
SELECT channel, command_id, actor, role, code, message, details, at
FROM appeasement_rejections WHERE order_id = $1 ORDER BY at, id
"""


async def order_known(connection: asyncpg.Connection, order_id: str) -> bool:
    return bool(await connection.fetchval(ORDER_KNOWN, order_id))


async def rejections(connection: asyncpg.Connection, order_id: str) -> list[dict[str, Any]]:
    return [
        {**dict(row), "details": json.loads(row["details"])}
        for row in await connection.fetch(SELECT_REJECTIONS, order_id)
    ]


APPEASED_BY_LINE_MANY = """
SELECT a.order_id, al.order_line, sum(al.gross_minor) AS gross, sum(al.tax_minor) AS tax,
       array_agg(DISTINCT a.appeasement_id ORDER BY a.appeasement_id) AS appeasement_ids
FROM appeasement_allocations al
JOIN appeasements a USING (appeasement_id)
WHERE a.order_id = ANY($1) AND a.status = ANY($2)
GROUP BY a.order_id, al.order_line
"""


async def appeased_for_orders(
    connection: asyncpg.Connection, order_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Amounts]], dict[tuple[str, str], list[str]]]:
    """Appeased amounts by order and line, and which appeasements hold them."""
    amounts: dict[str, dict[str, Amounts]] = {}
    holders: dict[tuple[str, str], list[str]] = {}
    for row in await connection.fetch(APPEASED_BY_LINE_MANY, list(order_ids), list(HOLDS_MONEY)):
        amounts.setdefault(row["order_id"], {})[row["order_line"]] = Amounts(
            int(row["gross"]), int(row["tax"])
        )
        holders[(row["order_id"], row["order_line"])] = list(row["appeasement_ids"])
    return amounts, holders

"""Appeasements, their allocation, audit trail and rejections, in plain named SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from service.domain.appeasement import Piece
from service.domain.balance import Amounts
from service.domain.lifecycle import HOLDS_MONEY

ORDER_OF = "SELECT order_id FROM appeasements WHERE appeasement_id = $1"
EXISTS = "SELECT 1 FROM appeasements WHERE appeasement_id = $1"
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




async def held(connection: asyncpg.Connection, limit: int) -> list[str]:
    """Appeasements held for approval, oldest first."""
    return [row["appeasement_id"] for row in await connection.fetch(SELECT_HELD, limit)]


async def order_of(connection: asyncpg.Connection, appeasement_id: str) -> str | None:
    return await connection.fetchval(ORDER_OF, appeasement_id)




async def exists(connection: asyncpg.Connection, appeasement_id: str) -> bool:
    return await connection.fetchval(EXISTS, appeasement_id) is not None






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

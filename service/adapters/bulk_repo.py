"""Bulk appeasements and their items, in plain named SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

INSERT_BULK = """
INSERT INTO bulk_appeasements (bulk_id, name, reason, comment, shape, selection, status,
    created_by, role)
VALUES ($1, $2, $3, $4, $5, $6, 'DRAFT', $7, $8)
"""
INSERT_ITEM = """
INSERT INTO bulk_items (bulk_id, position, order_id, request, preview_status, preview_amount,
    preview_code, preview_message, currency, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'PENDING')
"""
SELECT_BULK = "SELECT * FROM bulk_appeasements WHERE bulk_id = $1"
SELECT_ITEMS = "SELECT * FROM bulk_items WHERE bulk_id = $1 ORDER BY position"
SELECT_RECENT = "SELECT * FROM bulk_appeasements ORDER BY created_at DESC, bulk_id LIMIT $1"
COUNT_ITEMS = """
SELECT bulk_id, status, code, count(*) AS n FROM bulk_items WHERE bulk_id = ANY($1)
GROUP BY bulk_id, status, code
"""
START = """
UPDATE bulk_appeasements SET status = 'RUNNING', run_by = $2, run_role = $3, started_at = now()
WHERE bulk_id = $1 AND status = 'DRAFT'
RETURNING bulk_id
"""
CANCEL = """
UPDATE bulk_appeasements SET status = 'CANCELLED', cancelled_by = $2, finished_at = now()
WHERE bulk_id = $1 AND status IN ('DRAFT', 'RUNNING')
RETURNING bulk_id
"""
CANCEL_PENDING = """
UPDATE bulk_items SET status = 'CANCELLED', done_at = now()
WHERE bulk_id = $1 AND status = 'PENDING'
"""
RUNNING = "SELECT bulk_id FROM bulk_appeasements WHERE status = 'RUNNING' ORDER BY created_at"
# The runner reads its bulk under a share lock: a cancel waits for the grant in flight, and
# the runner sees it before the next one.
SHARE_BULK = "SELECT * FROM bulk_appeasements WHERE bulk_id = $1 FOR SHARE"
# Several runners share a bulk's items; each takes the next one no other runner holds.
CLAIM_NEXT = """
SELECT * FROM bulk_items WHERE bulk_id = $1 AND status = 'PENDING'
ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED
"""
ANY_PENDING = "SELECT 1 FROM bulk_items WHERE bulk_id = $1 AND status = 'PENDING' LIMIT 1"
FINISH = """
UPDATE bulk_appeasements SET status = 'DONE', finished_at = now()
WHERE bulk_id = $1 AND status = 'RUNNING'
"""
RECORD_OUTCOME = """
UPDATE bulk_items SET status = $3, appeasement_id = $4, amount = $5,
    currency = coalesce($6, currency), code = $7, message = $8, done_at = now()
WHERE bulk_id = $1 AND position = $2
"""
KNOWN_ORDERS = "SELECT order_id FROM orders WHERE order_id = ANY($1) AND known"
# Orders shipped by a carrier (any package of the shipment) within [from, to).
SHIPPED_BY = """
SELECT order_id, min(shipped_at) AS first_shipped FROM shipments
WHERE shipped_at >= $2 AND shipped_at < $3
  AND EXISTS (SELECT 1 FROM unnest(carriers) AS c WHERE lower(c) = lower($1))
GROUP BY order_id ORDER BY first_shipped, order_id
LIMIT $4
"""


async def insert(
    connection: asyncpg.Connection, bulk: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    await connection.execute(
        INSERT_BULK, bulk["bulk_id"], bulk["name"], bulk["reason"], bulk["comment"],
        json.dumps(bulk["shape"]), json.dumps(bulk["selection"]), bulk["created_by"],
        bulk["role"],
    )
    await connection.executemany(INSERT_ITEM, [
        (bulk["bulk_id"], position, item["order_id"],
         None if item["request"] is None else json.dumps(item["request"]),
         item["preview_status"], item["preview_amount"], item["preview_code"],
         item["preview_message"], item["currency"])
        for position, item in enumerate(items, start=1)
    ])


async def get(connection: asyncpg.Connection, bulk_id: str) -> asyncpg.Record | None:
    return await connection.fetchrow(SELECT_BULK, bulk_id)


async def items(connection: asyncpg.Connection, bulk_id: str) -> list[asyncpg.Record]:
    return await connection.fetch(SELECT_ITEMS, bulk_id)


async def recent(connection: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await connection.fetch(SELECT_RECENT, limit)


async def counts(
    connection: asyncpg.Connection, bulk_ids: Sequence[str]
) -> dict[str, list[tuple[str, str | None, int]]]:
    """(status, code, how many) per bulk."""
    found: dict[str, list[tuple[str, str | None, int]]] = {}
    for row in await connection.fetch(COUNT_ITEMS, list(bulk_ids)):
        found.setdefault(row["bulk_id"], []).append((row["status"], row["code"], int(row["n"])))
    return found


async def start(connection: asyncpg.Connection, bulk_id: str, user: str, role: str) -> bool:
    return await connection.fetchval(START, bulk_id, user, role) is not None


async def cancel(connection: asyncpg.Connection, bulk_id: str, user: str) -> bool:
    if await connection.fetchval(CANCEL, bulk_id, user) is None:
        return False
    await connection.execute(CANCEL_PENDING, bulk_id)
    return True


async def running(connection: asyncpg.Connection) -> list[str]:
    return [row["bulk_id"] for row in await connection.fetch(RUNNING)]


async def share(connection: asyncpg.Connection, bulk_id: str) -> asyncpg.Record | None:
    return await connection.fetchrow(SHARE_BULK, bulk_id)


async def claim_next(connection: asyncpg.Connection, bulk_id: str) -> asyncpg.Record | None:
    return await connection.fetchrow(CLAIM_NEXT, bulk_id)


async def any_pending(connection: asyncpg.Connection, bulk_id: str) -> bool:
    return await connection.fetchval(ANY_PENDING, bulk_id) is not None


async def finish(connection: asyncpg.Connection, bulk_id: str) -> None:
    await connection.execute(FINISH, bulk_id)


async def record_outcome(
    connection: asyncpg.Connection, bulk_id: str, position: int, *, status: str,
    appeasement_id: str | None = None, amount: str | None = None, currency: str | None = None,
    code: str | None = None, message: str | None = None,
) -> None:
    await connection.execute(
        RECORD_OUTCOME, bulk_id, position, status, appeasement_id, amount, currency, code,
        message,
    )


async def known_orders(connection: asyncpg.Connection, order_ids: Sequence[str]) -> set[str]:
    return {row["order_id"] for row in await connection.fetch(KNOWN_ORDERS, list(order_ids))}


async def shipped_by(
    connection: asyncpg.Connection, carrier: str, shipped_from: datetime, shipped_to: datetime,
    limit: int,
) -> list[str]:
    rows = await connection.fetch(SHIPPED_BY, carrier, shipped_from, shipped_to, limit)
    return [row["order_id"] for row in rows]

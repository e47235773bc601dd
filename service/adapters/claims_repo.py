"""Claims (reclamations) on orders, in plain named SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

INSERT = """
INSERT INTO claims (claim_id, order_id, status, reason, comment, line_ids, opened_by)
VALUES ($1, $2, 'OPEN', $3, $4, $5, $6)
"""
SELECT_ONE = "SELECT * FROM claims WHERE claim_id = $1"
LOCK = "SELECT * FROM claims WHERE claim_id = $1 FOR UPDATE"
SHARE = "SELECT * FROM claims WHERE claim_id = $1 FOR SHARE"
FOR_ORDER = "SELECT * FROM claims WHERE order_id = $1 ORDER BY opened_at, claim_id"
CLOSE = """
UPDATE claims SET status = 'CLOSED', closed_by = $2, closed_at = now(), close_comment = $3
WHERE claim_id = $1
"""
APPEASEMENTS = """
SELECT claim_id, appeasement_id, status, currency, amount_minor, created_at
FROM appeasements WHERE claim_id = ANY($1) ORDER BY created_at, appeasement_id
"""


async def insert(
    connection: asyncpg.Connection, *, claim_id: str, order_id: str, reason: str,
    comment: str | None, line_ids: Sequence[str], opened_by: str,
) -> None:
    await connection.execute(INSERT, claim_id, order_id, reason, comment, list(line_ids), opened_by)


async def get(connection: asyncpg.Connection, claim_id: str) -> asyncpg.Record | None:
    return await connection.fetchrow(SELECT_ONE, claim_id)


async def lock(connection: asyncpg.Connection, claim_id: str) -> asyncpg.Record | None:
    return await connection.fetchrow(LOCK, claim_id)


async def hold_open(connection: asyncpg.Connection, claim_id: str) -> asyncpg.Record | None:
    """Read the claim and keep it from being closed until this transaction ends."""
    return await connection.fetchrow(SHARE, claim_id)


async def close(
    connection: asyncpg.Connection, claim_id: str, closed_by: str, comment: str | None
) -> None:
    await connection.execute(CLOSE, claim_id, closed_by, comment)


async def for_order(connection: asyncpg.Connection, order_id: str) -> list[asyncpg.Record]:
    return await connection.fetch(FOR_ORDER, order_id)


async def appeasements_of(
    connection: asyncpg.Connection, claim_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in await connection.fetch(APPEASEMENTS, list(claim_ids)):
        found.setdefault(row["claim_id"], []).append(dict(row))
    return found

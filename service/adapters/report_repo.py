"""What the KPI reports read, in plain named SQL: one statement per figure, grouped by a
key chosen from a fixed list (never from the caller's text)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

#: The group key of an appeasement (`a`) and of a refused command (`r`), per grouping.
APPEASEMENT_KEYS = {
    "reason": "a.reason",
    "user": "a.requested_by",
    "role": "a.role",
    "day": "to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "status": "a.status",
}
REFUSAL_KEYS = {
    "reason": "r.reason",
    "user": "r.actor",
    "role": "r.role",
    "day": "to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "status": "'REFUSED'",
}

# Per group and currency: how many, gross and tax, statuses, holds, decisions and the time
# from hold to approval. $1..$2 is the period [from, to), $3 an optional currency.
APPEASEMENTS = """
WITH picked AS (
    SELECT a.appeasement_id, a.currency, a.status, a.amount_minor, {key} AS key
    FROM appeasements a
    WHERE a.created_at >= $1 AND a.created_at < $2 AND ($3::text IS NULL OR a.currency = $3)
), tax AS (
    SELECT appeasement_id, sum(tax_minor) AS tax_minor FROM appeasement_allocations
    WHERE appeasement_id IN (SELECT appeasement_id FROM picked) GROUP BY appeasement_id
), held AS (
    SELECT appeasement_id, min(at) AS held_at FROM appeasement_transitions
    WHERE to_status = 'PENDINGAPPROVAL' AND appeasement_id IN (SELECT appeasement_id FROM picked)
    GROUP BY appeasement_id
), decided AS (
    SELECT DISTINCT ON (appeasement_id) appeasement_id, to_status, at FROM appeasement_transitions
    WHERE from_status = 'PENDINGAPPROVAL'
      AND appeasement_id IN (SELECT appeasement_id FROM picked)
    ORDER BY appeasement_id, position
)
SELECT p.key, p.currency, count(*) AS count, sum(p.amount_minor) AS gross_minor,
    coalesce(sum(tax.tax_minor), 0) AS tax_minor,
    count(held.held_at) AS held,
    count(*) FILTER (WHERE decided.to_status = 'PENDINGRELEASE') AS approved,
    count(*) FILTER (WHERE decided.to_status = 'DECLINED') AS declined,
    coalesce(sum(extract(epoch FROM decided.at - held.held_at))
        FILTER (WHERE decided.to_status = 'PENDINGRELEASE'), 0) AS seconds_to_approve
FROM picked p
LEFT JOIN tax USING (appeasement_id)
LEFT JOIN held USING (appeasement_id)
LEFT JOIN decided USING (appeasement_id)
GROUP BY p.key, p.currency
ORDER BY p.key, p.currency
"""
STATUSES = """
SELECT {key} AS key, a.currency, a.status, count(*) AS n FROM appeasements a
WHERE a.created_at >= $1 AND a.created_at < $2 AND ($3::text IS NULL OR a.currency = $3)
GROUP BY 1, 2, 3
"""
# Refused commands, in the currency of their order (none for an order never known).
REFUSALS = """
SELECT {key} AS key, o.currency, r.code, count(*) AS n
FROM appeasement_rejections r LEFT JOIN orders o ON o.order_id = r.order_id
WHERE r.at >= $1 AND r.at < $2 AND ($3::text IS NULL OR o.currency = $3)
GROUP BY 1, 2, 3
"""


async def appeasements(
    connection: asyncpg.Connection, group_by: str, start: datetime, end: datetime,
    currency: str | None,
) -> list[asyncpg.Record]:
    sql = APPEASEMENTS.format(key=APPEASEMENT_KEYS[group_by])
    return await connection.fetch(sql, start, end, currency)


async def statuses(
    connection: asyncpg.Connection, group_by: str, start: datetime, end: datetime,
    currency: str | None,
) -> list[asyncpg.Record]:
    return await connection.fetch(
        STATUSES.format(key=APPEASEMENT_KEYS[group_by]), start, end, currency
    )


async def refusals(
    connection: asyncpg.Connection, group_by: str, start: datetime, end: datetime,
    currency: str | None,
) -> list[asyncpg.Record]:
    return await connection.fetch(
        REFUSALS.format(key=REFUSAL_KEYS[group_by]), start, end, currency
    )

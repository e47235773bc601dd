"""The transactional outbox: messages written with the facts that caused them, published later."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

NOTIFY_CHANNEL = "appeasement_outbox"

ADD = """
INSERT INTO outbox (topic, key, message_id, payload, sealed) VALUES ($1, $2, $3, $4, $5)
"""
NOTIFY = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"

# Each key's pending messages go to one relay at a time (a transaction-scoped advisory
# lock on the key), oldest first, so one order's messages are published in order even
# when several replicas relay.
CLAIM = """
WITH heads AS MATERIALIZED (
    SELECT key, min(id) AS first_id FROM outbox WHERE published_at IS NULL
    GROUP BY key ORDER BY first_id LIMIT $1
), mine AS MATERIALIZED (
    SELECT key FROM heads WHERE pg_try_advisory_xact_lock(hashtextextended('outbox:' || key, 0))
)
SELECT o.id, o.topic, o.key, o.message_id, o.payload, o.sealed
FROM outbox o JOIN mine USING (key)
WHERE o.published_at IS NULL
ORDER BY o.id
LIMIT $2
FOR UPDATE OF o SKIP LOCKED
"""
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


async def add(
    connection: asyncpg.Connection, *, topic: str, key: str, message_id: str, payload: str,
    sealed: bool = False,
) -> None:
    """Queue a message in the caller's transaction; relays are woken when it commits.

    A `sealed` payload was encrypted by the caller; the relay opens it to publish it.
    """
    await connection.execute(ADD, topic, key, message_id, payload, sealed)
    await connection.execute(NOTIFY)


async def claim(
    connection: asyncpg.Connection, *, keys: int, limit: int
) -> list[asyncpg.Record]:
    return await connection.fetch(CLAIM, keys, limit)


async def mark_published(connection: asyncpg.Connection, ids: Sequence[int]) -> None:
    await connection.execute(MARK_PUBLISHED, list(ids))


async def pending(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval(PENDING))

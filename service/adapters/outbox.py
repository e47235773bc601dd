"""The transactional outbox: messages written with the facts that caused them, published later."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from service.adapters import trace_context
from service.domain.errors import DomainError

NOTIFY_CHANNEL = "appeasement_outbox"
#: Room left under the broker's message.max.bytes (1 MiB by default) for the record's
#: own overhead: key, headers, batch framing.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000

ADD = """
INSERT INTO outbox (topic, key, message_id, payload, sealed, traceparent, tracestate)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
ADD_RAW = """
INSERT INTO outbox (topic, key, message_id, payload, raw_key, raw_value, headers)
VALUES ($1, $2, $3, '', $4, $5, $6)
ON CONFLICT (message_id) DO NOTHING
"""
NOTIFY = f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"

# Each key's pending messages go to one relay at a time (a transaction-scoped advisory
# lock on the key), oldest first, so one order's messages are published in order even
# when several replicas relay. A key whose oldest message backs off or is quarantined
# waits; the others go on.
CLAIM = """
WITH heads AS MATERIALIZED (
    SELECT DISTINCT ON (key) key, id AS first_id, next_attempt_at, quarantined_at
    FROM outbox WHERE published_at IS NULL
    ORDER BY key, id
), ready AS MATERIALIZED (
    SELECT key FROM heads
    WHERE quarantined_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY first_id LIMIT $1
), mine AS MATERIALIZED (
    SELECT key FROM ready WHERE pg_try_advisory_xact_lock(hashtextextended('outbox:' || key, 0))
)
SELECT o.id, o.topic, o.key, o.message_id, o.payload, o.sealed, o.raw_key, o.raw_value,
       o.headers, o.attempts, o.traceparent, o.tracestate
FROM outbox o JOIN mine USING (key)
WHERE o.published_at IS NULL
ORDER BY o.id
LIMIT $2
FOR UPDATE OF o SKIP LOCKED
"""
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
# Back off 0.5 s, 1 s, 2 s ... (at most $4 s); quarantine at the $3rd failed attempt.
MARK_FAILED = """
UPDATE outbox SET
    attempts = attempts + 1,
    last_error = left($2, 2000),
    next_attempt_at = now() + make_interval(secs => least(0.5 * 2 ^ attempts, $4)),
    quarantined_at = CASE WHEN attempts + 1 >= $3 THEN now() END
WHERE id = $1
RETURNING quarantined_at IS NOT NULL AS quarantined, attempts
"""
PENDING = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
#: At most $3 messages published before $1, found on the index of published messages and
#: deleted by primary key. Kept: dead letters (on topic $2, or queued as raw bytes: operators
#: list and replay them from here) and messages an operator acted on or replayed (their
#: audit refers to them).
PURGE_PUBLISHED = """
DELETE FROM outbox WHERE id = ANY(ARRAY(
    SELECT o.id FROM outbox o
    WHERE o.published_at < $1 AND o.topic <> $2 AND o.raw_value IS NULL
      AND NOT EXISTS (SELECT 1 FROM outbox_operator_actions a WHERE a.outbox_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM dead_letter_replays r WHERE r.outbox_id = o.id)
    LIMIT $3
    FOR UPDATE SKIP LOCKED
))
"""
STATUS = """
SELECT count(*) FILTER (WHERE quarantined_at IS NULL) AS pending,
       count(*) FILTER (WHERE quarantined_at IS NOT NULL) AS quarantined,
       extract(epoch FROM now() - min(created_at)) AS oldest_seconds
FROM outbox WHERE published_at IS NULL
"""
QUARANTINED = """
SELECT id, topic, key, message_id, attempts, last_error, created_at, quarantined_at
FROM outbox WHERE quarantined_at IS NOT NULL AND published_at IS NULL ORDER BY id
"""
RETRY = """
UPDATE outbox SET quarantined_at = NULL, attempts = 0, next_attempt_at = NULL
WHERE id = $1 AND quarantined_at IS NOT NULL AND published_at IS NULL
RETURNING id
"""
SKIP = """
UPDATE outbox SET published_at = now(), skipped_at = now()
WHERE id = $1 AND quarantined_at IS NOT NULL AND published_at IS NULL
RETURNING id
"""
AUDIT = """
INSERT INTO outbox_operator_actions (outbox_id, action, actor, reason) VALUES ($1, $2, $3, $4)
"""


class BrokerUnavailable(Exception):
    """The broker cannot take messages now (down, frozen, electing): retry everything later.

    Any other publication error belongs to the message itself and counts against it.
    """


class MessageTooLarge(DomainError):
    """A message this service would build is larger than the broker takes: refused before
    the transaction commits, never stuck in the outbox."""

    code = "MESSAGE_TOO_LARGE"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the message would be {size} bytes, over the {limit} bytes the broker takes",
            size=size, limit=limit,
        )


def check_size(payload: str | bytes, limit: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > limit:
        raise MessageTooLarge(size, limit)


@dataclass(frozen=True, slots=True)
class Message:
    """One message to queue: `payload` is the JSON text, or its sealed form when `sealed`."""

    topic: str
    key: str
    message_id: str
    payload: str
    sealed: bool = False


async def add(
    connection: asyncpg.Connection, *, topic: str, key: str, message_id: str, payload: str,
    sealed: bool = False, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> None:
    """Queue a message in the caller's transaction; relays are woken when it commits. One
    the broker would not take is refused here (MessageTooLarge), before the commit.

    A `sealed` payload was encrypted by the caller, who checked the size of what it seals;
    the relay opens it to publish it. The current trace is kept with it: its publication
    continues that trace.
    """
    if not sealed:
        check_size(payload, max_bytes)
    await connection.execute(
        ADD, topic, key, message_id, payload, sealed, *trace_context.current()
    )
    await connection.execute(NOTIFY)


async def add_raw(
    connection: asyncpg.Connection, *, topic: str, message_id: str, key: bytes | None,
    value: bytes, headers: Mapping[str, str],
) -> bool:
    """Queue bytes as they are (a dead letter); a second copy of one `message_id` is
    dropped, so a redelivered record is dead-lettered once. Returns whether it was new."""
    text_key = (key or b"").decode("utf-8", "replace")
    status = await connection.execute(
        ADD_RAW, topic, text_key, message_id, key, value, json.dumps(dict(headers))
    )
    await connection.execute(NOTIFY)
    return status.endswith(" 1")


async def claim(
    connection: asyncpg.Connection, *, keys: int, limit: int
) -> list[asyncpg.Record]:
    return await connection.fetch(CLAIM, keys, limit)


async def mark_published(connection: asyncpg.Connection, ids: Sequence[int]) -> None:
    await connection.execute(MARK_PUBLISHED, list(ids))


async def mark_failed(
    connection: asyncpg.Connection, row_id: int, error: str, *, quarantine_after: int,
    max_backoff: float,
) -> tuple[bool, int]:
    """Count a failed attempt; (quarantined now, attempts so far)."""
    row = await connection.fetchrow(MARK_FAILED, row_id, error, quarantine_after, max_backoff)
    return bool(row["quarantined"]), int(row["attempts"])


async def purge_published(
    connection: asyncpg.Connection, before: datetime, *, dead_letter_topic: str, limit: int
) -> int:
    """Delete up to `limit` messages published before `before`; returns how many."""
    status = await connection.execute(PURGE_PUBLISHED, before, dead_letter_topic, limit)
    return int(status.rsplit(" ", 1)[-1])


async def pending(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval(PENDING))


async def status(connection: asyncpg.Connection) -> asyncpg.Record:
    return await connection.fetchrow(STATUS)


async def quarantined(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return await connection.fetch(QUARANTINED)


async def release(
    connection: asyncpg.Connection, row_id: int, action: str, *, actor: str, reason: str
) -> bool:
    """Retry or skip a quarantined row, audited; False when it is not quarantined."""
    done = await connection.fetchval(RETRY if action == "retry" else SKIP, row_id)
    if done is None:
        return False
    await connection.execute(AUDIT, row_id, action, actor, reason)
    await connection.execute(NOTIFY)
    return True

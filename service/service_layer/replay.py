"""Replaying dead letters to the topic they came from.

The database is the source: every dead letter is an outbox row (topic DEAD_LETTER_TOPIC)
that keeps the record's original key and bytes (`raw_key`, `raw_value`) and its headers with
the reason (`x-error-code`, `x-error-message`, `x-original-topic`, ...), and is kept after
the relay published it, for as long as the database lives, where the dead-letter topic keeps
records only for its retention. A command that may carry bank details was dead-lettered
sealed (`x-sealed: fernet`); it is opened with the bank-details key before it is republished.

Each replay republishes the original bytes under the original key with the original headers,
plus `x-replay-of` (the dead letter's id), `x-replay-id` and `x-replayed-by`, and is recorded
in `dead_letter_replays` in the transaction that holds the dead letter's row, so two operators
never replay one letter at once. A crash between the broker's acknowledgement and the commit
leaves the letter unrecorded: the next replay sends it again (the consumers dedupe by message
id what they can read).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg

from service.adapters.sealing import SealingKeyError

#: Headers the dead-lettering added: not the record's own, not republished.
ADDED_HEADERS = frozenset({
    "x-error-code", "x-error-message", "x-original-topic", "x-original-partition",
    "x-original-offset", "x-sealed",
})

SELECT_LETTERS = """
SELECT o.id, o.message_id, o.created_at, o.raw_key, o.raw_value, o.headers,
       coalesce(r.replays, 0) AS replays, r.last_by, r.last_at
FROM outbox o
LEFT JOIN LATERAL (
    SELECT count(*) AS replays, max(at) AS last_at,
           (array_agg(actor ORDER BY at DESC, id DESC))[1] AS last_by
    FROM dead_letter_replays WHERE outbox_id = o.id
) r ON true
WHERE o.topic = $1 AND o.raw_value IS NOT NULL
  AND (cardinality($2::text[]) = 0 OR o.headers->>'x-error-code' = ANY($2))
  AND (cardinality($3::text[]) = 0 OR o.headers->>'x-original-topic' = ANY($3))
  AND ($4::timestamptz IS NULL OR o.created_at >= $4)
  AND ($5::timestamptz IS NULL OR o.created_at < $5)
  AND ($6::text IS NULL OR o.headers->>'x-error-message' ILIKE '%' || $6 || '%')
  AND ($7 OR coalesce(r.replays, 0) = 0)
ORDER BY o.id
LIMIT $8
"""
LOCK_LETTER = """
SELECT (SELECT count(*) FROM dead_letter_replays WHERE outbox_id = o.id) AS replays
FROM outbox o WHERE o.id = $1 FOR UPDATE
"""
RECORD_REPLAY = """
INSERT INTO dead_letter_replays (outbox_id, letter_id, original_topic, replay_id, actor, reason)
VALUES ($1, $2, $3, $4, $5, $6)
"""


@dataclass(frozen=True, slots=True)
class Filters:
    codes: Sequence[str] = ()
    topics: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    again: bool = False
    limit: int = 100_000


@dataclass(frozen=True, slots=True)
class Letter:
    outbox_id: int
    letter_id: str
    created_at: datetime
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    replays: int
    last_by: str | None
    last_at: datetime | None

    @property
    def code(self) -> str:
        return self.headers.get("x-error-code", "?")

    @property
    def reason(self) -> str:
        return self.headers.get("x-error-message", "")

    @property
    def topic(self) -> str:
        return self.headers.get("x-original-topic", "")

    @property
    def origin(self) -> str:
        headers = self.headers
        return (f"{self.topic}/{headers.get('x-original-partition', '?')}"
                f"@{headers.get('x-original-offset', '?')}")

    @property
    def sealed(self) -> bool:
        return self.headers.get("x-sealed") == "fernet"


class Opener(Protocol):
    def open(self, token: str) -> str: ...


class RecordPublisher(Protocol):
    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None: ...


async def letters(
    connection: asyncpg.Connection, dead_letter_topic: str, filters: Filters
) -> list[Letter]:
    rows = await connection.fetch(
        SELECT_LETTERS, dead_letter_topic, list(filters.codes), list(filters.topics),
        filters.since, filters.until, filters.reason, filters.again, filters.limit,
    )
    return [
        Letter(
            row["id"], row["message_id"], row["created_at"],
            None if row["raw_key"] is None else bytes(row["raw_key"]), bytes(row["raw_value"]),
            json.loads(row["headers"] or "{}"), int(row["replays"]), row["last_by"],
            row["last_at"],
        )
        for row in rows
    ]


def per_code(found: Sequence[Letter]) -> dict[str, int]:
    return dict(sorted(Counter(letter.code for letter in found).items()))


def republished(letter: Letter, opener: Opener | None, replay_id: str, actor: str) -> tuple[
    bytes, list[tuple[str, bytes]]
]:
    """The record as it first came (opened when sealed), and the headers marking the replay."""
    value = letter.value
    if letter.sealed:
        if opener is None:
            raise SealingKeyError("a sealed dead letter needs BANK_DETAILS_KEY to be replayed")
        value = opener.open(value.decode()).encode()
    headers = [(name, text.encode()) for name, text in letter.headers.items()
               if name not in ADDED_HEADERS]
    headers += [("x-replay-of", letter.letter_id.encode()), ("x-replay-id", replay_id.encode()),
                ("x-replayed-by", actor.encode())]
    return value, headers


@dataclass
class Replayed:
    replayed: list[Letter]
    skipped: list[Letter]
    failed: list[tuple[Letter, str]]


async def replay(
    connection: asyncpg.Connection, found: Sequence[Letter], publisher: RecordPublisher, *,
    opener: Opener | None, actor: str, reason: str | None, again: bool,
    advance: Callable[[], None] = lambda: None,
) -> Replayed:
    """Republish each letter and record it, one transaction per letter."""
    outcome = Replayed([], [], [])
    for letter in found:
        if not letter.topic:
            outcome.failed.append((letter, "the dead letter names no original topic"))
            advance()
            continue
        try:
            async with connection.transaction():
                replays = await connection.fetchval(LOCK_LETTER, letter.outbox_id)
                if replays and not again:
                    outcome.skipped.append(letter)  # another operator replayed it meanwhile
                    continue
                replay_id = uuid.uuid4().hex
                value, headers = republished(letter, opener, replay_id, actor)
                await publisher.send(letter.topic, value, letter.key, headers)
                await connection.execute(
                    RECORD_REPLAY, letter.outbox_id, letter.letter_id, letter.topic, replay_id,
                    actor, reason,
                )
            outcome.replayed.append(letter)
        except SealingKeyError as error:
            outcome.failed.append((letter, str(error)))
        finally:
            advance()
    return outcome

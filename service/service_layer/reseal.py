"""Re-seal every sealed value in the database with the first bank-details key.

Sealed values live in three places: an appeasement's bank details, an outbox message that
carries them (`sealed`, kept after it is published), and a command dead-lettered sealed
(header `x-sealed: fernet`). Each is read in batches of rows locked in key order and written
back in the batch's transaction; a value already under the first key is left as it is, so a
second run re-seals nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from service.adapters.sealing import Sealer, SealingKeyError


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    count: str
    select: str
    update: str
    start: object
    binary: bool = False


TARGETS = (
    Target(
        "appeasements.bank_details",
        "SELECT count(*) FROM appeasements WHERE bank_details IS NOT NULL",
        "SELECT appeasement_id AS id, bank_details AS sealed FROM appeasements "
        "WHERE bank_details IS NOT NULL AND appeasement_id > $1 "
        "ORDER BY appeasement_id LIMIT $2 FOR UPDATE",
        "UPDATE appeasements SET bank_details = $2 WHERE appeasement_id = $1",
        "",
    ),
    Target(
        "outbox.payload",
        "SELECT count(*) FROM outbox WHERE sealed",
        "SELECT id, payload AS sealed FROM outbox WHERE sealed AND id > $1 "
        "ORDER BY id LIMIT $2 FOR UPDATE",
        "UPDATE outbox SET payload = $2 WHERE id = $1",
        0,
    ),
    Target(
        "outbox.dead_letters",
        "SELECT count(*) FROM outbox WHERE raw_value IS NOT NULL "
        "AND headers->>'x-sealed' = 'fernet'",
        "SELECT id, raw_value AS sealed FROM outbox WHERE raw_value IS NOT NULL "
        "AND headers->>'x-sealed' = 'fernet' AND id > $1 ORDER BY id LIMIT $2 FOR UPDATE",
        "UPDATE outbox SET raw_value = $2 WHERE id = $1",
        0,
        binary=True,
    ),
)


@dataclass
class Resealed:
    resealed: int = 0
    current: int = 0
    unopened: list[str] = field(default_factory=list)


async def totals(connection: asyncpg.Connection) -> dict[str, int]:
    return {target.name: int(await connection.fetchval(target.count)) for target in TARGETS}


async def reseal(
    connection: asyncpg.Connection, sealer: Sealer, *, batch: int = 200,
    advance: Callable[[str, int], None] = lambda name, done: None,
) -> dict[str, Resealed]:
    """Every sealed value under an older key, sealed again with the first; per place, how
    many were re-sealed, how many were already current, and which opened with no key."""
    report: dict[str, Resealed] = {}
    for target in TARGETS:
        counts = report[target.name] = Resealed()
        cursor = target.start
        while True:
            async with connection.transaction():
                rows = await connection.fetch(target.select, cursor, batch)
                changes = []
                for row in rows:
                    sealed = row["sealed"]
                    text = bytes(sealed).decode() if target.binary else sealed
                    if sealer.is_current(text):
                        counts.current += 1
                        continue
                    try:
                        fresh = sealer.rotate(text)
                    except SealingKeyError:
                        counts.unopened.append(str(row["id"]))
                        continue
                    changes.append((row["id"], fresh.encode() if target.binary else fresh))
                if changes:
                    await connection.executemany(target.update, changes)
                counts.resealed += len(changes)
            if not rows:
                break
            cursor = rows[-1]["id"]
            advance(target.name, len(rows))
    return report

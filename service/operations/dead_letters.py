"""Dead letters: `python -m service dead-letters list | replay`, read from the database (the
outbox keeps each one's original key, bytes and headers; see service_layer/replay.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import typer
from aiokafka import AIOKafkaProducer

from service.adapters.sealing import Sealer, SealingKeyError
from service.operations.common import database_url, progress, required, settings
from service.service_layer import replay as replays
from service.service_layer.replay import Filters, Letter

dead_letters = typer.Typer(
    no_args_is_help=True, help="Dead letters: list them, replay them to their original topic."
)

CODE = typer.Option([], "--code", help="Only this error code (x-error-code); repeatable")
TOPIC = typer.Option([], "--topic", help="Only records of this original topic; repeatable")
SINCE = typer.Option(None, help="Dead-lettered at or after (ISO 8601; UTC when no offset)")
UNTIL = typer.Option(None, help="Dead-lettered before (ISO 8601; UTC when no offset)")
REASON = typer.Option(None, "--reason-like", help="Only those whose error message contains this")
LIMIT = typer.Option(100_000, help="At most this many")


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"{name}: not an ISO 8601 date or time: {text!r}", err=True)
        raise typer.Exit(2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filters(
    codes: list[str], topics: list[str], since: str | None, until: str | None,
    reason: str | None, again: bool, limit: int,
) -> Filters:
    return Filters(codes=codes, topics=topics, since=_moment(since, "--since"),
                   until=_moment(until, "--until"), reason=reason, again=again, limit=limit)


def _line(letter: Letter) -> str:
    replayed = (f"replayed {letter.replays}x, last by {letter.last_by} at "
                f"{letter.last_at:%Y-%m-%dT%H:%M:%SZ}" if letter.replays and letter.last_at
                else "not replayed")
    sealed = " sealed" if letter.sealed else ""
    return (f"#{letter.outbox_id} {letter.created_at:%Y-%m-%dT%H:%M:%SZ} {letter.code} "
            f"{letter.origin}{sealed} ({replayed}): {letter.reason[:120]}")


def _per_code(found: list[Letter]) -> None:
    for code, count in replays.per_code(found).items():
        typer.echo(f"  {code}: {count}")


async def _find(filters: Filters) -> list[Letter]:
    connection = await asyncpg.connect(database_url())
    try:
        return await replays.letters(connection, settings().dead_letter_topic, filters)
    finally:
        await connection.close()


@dead_letters.command(name="list")
def list_letters(
    code: list[str] = CODE, topic: list[str] = TOPIC, since: str = SINCE, until: str = UNTIL,
    reason_like: str = REASON, limit: int = LIMIT,
) -> None:
    """Dead letters, oldest first, with their reason and whether they were replayed."""
    found = asyncio.run(_find(_filters(code, topic, since, until, reason_like, True, limit)))
    for letter in found:
        typer.echo(_line(letter))
    typer.echo(f"{len(found)} dead letters")
    _per_code(found)


class _Producer:
    """Records as they are, acknowledged by every in-sync replica."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=headers)


@dead_letters.command()
def replay(
    code: list[str] = CODE, topic: list[str] = TOPIC, since: str = SINCE, until: str = UNTIL,
    reason_like: str = REASON, limit: int = LIMIT,
    by: str = typer.Option(None, help="Who replays: kept in the audit (required unless --dry-run)"),
    reason: str = typer.Option(None, help="Why: kept in the audit"),
    again: bool = typer.Option(False, "--again", help="Also those replayed before"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be replayed"),
) -> None:
    """Republish dead letters to their original topic: original key, bytes and headers
    (sealed ones opened with BANK_DETAILS_KEY), plus `x-replay-of`, `x-replay-id` and
    `x-replayed-by`; each replay is recorded, and a replayed letter is not replayed again
    unless --again."""
    filters = _filters(code, topic, since, until, reason_like, again, limit)
    current = settings()
    if dry_run:
        found = asyncio.run(_find(filters))
        typer.echo(f"would replay {len(found)} dead letters")
        _per_code(found)
        for letter in found:
            typer.echo(_line(letter))
        return
    actor = required(by, "--by")
    try:
        opener = Sealer(current.bank_details_key) if current.bank_details_key else None
    except SealingKeyError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    bootstrap = required(current.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS")

    async def main() -> replays.Replayed:
        connection = await asyncpg.connect(database_url())
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", client_id=f"{current.service_name}-replay",
            **current.kafka_security().client_options(),
        )
        await producer.start()
        try:
            found = await replays.letters(connection, current.dead_letter_topic, filters)
            with progress() as bar:
                task = bar.add_task("replaying dead letters", total=len(found))
                return await replays.replay(
                    connection, found, _Producer(producer), opener=opener, actor=actor,
                    reason=reason, again=again, advance=lambda: bar.advance(task),
                )
        finally:
            await producer.stop()
            await connection.close()

    outcome = asyncio.run(main())
    typer.echo(f"replayed {len(outcome.replayed)} dead letters, by {actor} (audited)")
    _per_code(outcome.replayed)
    if outcome.skipped:
        typer.echo(f"skipped {len(outcome.skipped)} replayed meanwhile by someone else")
    for letter, why in outcome.failed:
        typer.echo(f"not replayed #{letter.outbox_id} {letter.origin}: {why}", err=True)
    if outcome.failed:
        raise typer.Exit(1)

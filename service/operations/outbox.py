"""Operator commands on the outbox: `python -m service outbox status | retry ID | skip ID`."""

from __future__ import annotations

import asyncpg
import typer

from service.adapters import outbox as rows
from service.operations.common import with_connection as _with_connection

outbox = typer.Typer(no_args_is_help=True, help="The outbox: what waits, what is quarantined.")


@outbox.command()
def status() -> None:
    """How many messages wait, how old the oldest is, and each quarantined one."""

    async def read(connection: asyncpg.Connection) -> None:
        figures = await rows.status(connection)
        oldest = figures["oldest_seconds"]
        typer.echo(f"pending: {figures['pending']}, quarantined: {figures['quarantined']}, "
                   f"oldest: {'-' if oldest is None else f'{float(oldest):.1f} s'}")
        for row in await rows.quarantined(connection):
            typer.echo(f"  #{row['id']} {row['topic']} key={row['key']} "
                       f"message={row['message_id']} attempts={row['attempts']} "
                       f"since={row['quarantined_at']:%Y-%m-%dT%H:%M:%SZ}: {row['last_error']}")

    _with_connection(read)


def _release(action: str, outbox_id: int, by: str, reason: str) -> None:
    async def act(connection: asyncpg.Connection) -> bool:
        async with connection.transaction():
            return await rows.release(connection, outbox_id, action, actor=by, reason=reason)

    if not _with_connection(act):
        typer.echo(f"#{outbox_id} is not a quarantined message", err=True)
        raise typer.Exit(1)
    typer.echo(f"#{outbox_id}: {action} by {by} ({reason}), audited")


@outbox.command()
def retry(
    outbox_id: int = typer.Argument(..., help="The quarantined message's id (see status)"),
    by: str = typer.Option(..., help="Who decides: kept in the audit"),
    reason: str = typer.Option(..., help="Why: kept in the audit"),
) -> None:
    """Put a quarantined message back in line: the relay publishes it next."""
    _release("retry", outbox_id, by, reason)


@outbox.command()
def skip(
    outbox_id: int = typer.Argument(..., help="The quarantined message's id (see status)"),
    by: str = typer.Option(..., help="Who decides: kept in the audit"),
    reason: str = typer.Option(..., help="Why: kept in the audit"),
) -> None:
    """Give up on a quarantined message: it is never published; its order's next ones go."""
    _release("skip", outbox_id, by, reason)

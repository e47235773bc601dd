"""Keys and tokens: `bank-key` (a new key), `bank-key rotate`, `tokens hash`."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import typer

from service.adapters.sealing import Sealer, SealingKeyError, new_key
from service.operations.common import progress, required, settings, with_connection
from service.service_layer import reseal

bank_key = typer.Typer(
    help="Print a new key for BANK_DETAILS_KEY; `rotate` re-seals everything with the first key.",
    invoke_without_command=True,
)
tokens = typer.Typer(no_args_is_help=True, help="The tokens file.")


@bank_key.callback()
def print_new_key(context: typer.Context) -> None:
    """Print a new key for BANK_DETAILS_KEY (Fernet: 32 url-safe base64-encoded bytes)."""
    if context.invoked_subcommand is None:
        typer.echo(new_key())


@bank_key.command()
def rotate() -> None:
    """Re-seal every sealed value in the database with the first key of BANK_DETAILS_KEY.

    Put the new key first and keep the old ones after it (comma-separated), in the service
    and here; once this reports nothing left under an old key, the old keys can go.
    """
    try:
        sealer = Sealer(required(settings().bank_details_key, "BANK_DETAILS_KEY"))
    except SealingKeyError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None

    async def work(connection: asyncpg.Connection) -> dict[str, reseal.Resealed]:
        totals = await reseal.totals(connection)
        with progress() as bar:
            tasks = {name: bar.add_task(name, total=total) for name, total in totals.items()}
            return await reseal.reseal(
                connection, sealer,
                advance=lambda name, done: bar.advance(tasks[name], done),
            )

    report = with_connection(work)
    unopened = 0
    for name, counts in report.items():
        typer.echo(f"{name}: re-sealed {counts.resealed}, already under the first key "
                   f"{counts.current}, opened by no key {len(counts.unopened)}")
        if counts.unopened:
            typer.echo(f"  not opened: {', '.join(counts.unopened[:20])}", err=True)
        unopened += len(counts.unopened)
    if unopened:
        typer.echo(f"{unopened} sealed values open with none of the keys: keep the key that "
                   "sealed them in BANK_DETAILS_KEY and run again", err=True)
        raise typer.Exit(1)


@tokens.command(name="hash")
def hash_file(
    file: Path = typer.Option(None, help="Default: AUTH_TOKENS_FILE, else RUN_DIR/tokens.toml"),
) -> None:
    """Rewrite the plaintext entries of the tokens file as SHA-256 hashes (in place)."""
    from service.adapters.auth import AuthConfigError, hash_tokens_file

    current = settings()
    path = file or current.auth_tokens_file or current.run_dir / "tokens.toml"
    try:
        hashed, already = hash_tokens_file(path)
    except AuthConfigError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{path}: hashed {hashed} entries, {already} were hashed already")

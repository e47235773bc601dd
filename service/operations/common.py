"""What every operator command shares: settings, one database connection, a progress bar."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from service.settings import Settings

T = TypeVar("T")


def settings() -> Settings:
    return Settings()


def required(value: str | None, name: str) -> str:
    if not value:
        typer.echo(f"{name} is not set", err=True)
        raise typer.Exit(2)
    return value


def database_url() -> str:
    return required(settings().database_url, "DATABASE_URL")


def with_connection(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    url = database_url()

    async def main() -> T:
        connection = await asyncpg.connect(url)
        try:
            return await work(connection)
        finally:
            await connection.close()

    return asyncio.run(main())


def progress() -> Progress:
    """A bar per piece of long work, on stderr (stdout keeps the report)."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True),
    )

"""Helpers of the operations tests: run `python -m service ...` as an operator would, and a
database of a test's own for commands that touch every row."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from service.adapters.db import Database, migrate


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def run_cli(*args: str, env: dict[str, str]) -> Ran:
    """`python -m service ARGS` in a process of its own, with only `env` as its settings."""
    clean = {name: value for name, value in os.environ.items()
             if name.upper() not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SECRETS_DIR",
                                     "BANK_DETAILS_KEY", "AUTH_TOKENS_FILE"}}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", *args, env={**clean, "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[Database]:
    """A migrated database of its own on the test server, dropped afterwards."""
    name = f"ops_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server_url)
    scratch = Database(urlunsplit(parts._replace(path=f"/{name}")))
    await scratch.connect()
    try:
        await migrate(scratch.pool)
        yield scratch
    finally:
        await scratch.close()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()

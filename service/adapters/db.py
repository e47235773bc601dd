"""The asyncpg pool and numbered SQL migrations."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from importlib import resources

import asyncpg
import structlog

log = structlog.get_logger(__name__)

MIGRATIONS_LOCK = 7_351_001

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED_VERSIONS = "SELECT version FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    TimeoutError,
    # after a schema change (a projection rebuild's swap): the statement caches are dropped,
    # and the transaction again re-prepares its statements
    asyncpg.InvalidCachedStatementError,
    asyncpg.OutdatedSchemaCacheError,
)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a returned connection needs beyond asyncpg's own clean-up (an open transaction
    rolled back, its listeners dropped): nothing. The service's locks and settings are all
    transaction-scoped, so the server-side reset (`RESET ALL`, `UNLISTEN *`, unlocking) would
    be a round trip per use for nothing."""


#: Readies a new connection for the work to come (its statements prepared, their types known).
Prepare = Callable[[asyncpg.Connection], Awaitable[None]]


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, prepare: Prepare | None = None
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=30, reset=_keep_session,
        init=None if prepare is None else functools.partial(_ready, prepare=prepare),
    )


async def _ready(connection: asyncpg.Connection, prepare: Prepare) -> None:
    """Prepare the connection if the schema is there yet; a connection that could not be
    prepared works all the same, its first uses prepare what they need."""
    try:
        await prepare(connection)
    except asyncpg.PostgresError as error:
        log.debug("connection not prepared", error=repr(error))


def migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("service.adapters") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the migrations not applied yet, one transaction each, one replica at a time."""
    applied_now = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATIONS_LOCK)
        await connection.execute(CREATE_MIGRATIONS_TABLE)
        applied = {row["version"] for row in await connection.fetch(APPLIED_VERSIONS)}
        for version, name, sql in migration_files():
            if version in applied:
                continue
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute(RECORD_MIGRATION, version, name)
            applied_now.append(name)
            log.info("migration applied", migration=name)
    return applied_now


class Database:
    """The pool, created at start-up and closed at shutdown; built once in the composition root.
    `min_size` connections are opened at start and kept open however quiet it gets; `prepare`
    readies each new connection."""

    def __init__(
        self, dsn: str, *, max_size: int = 10, min_size: int = 1, prepare: Prepare | None = None
    ) -> None:
        self.dsn = dsn
        self._max_size = max_size
        self._min_size = min(min_size, max_size)
        self._prepare = prepare
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database is not connected yet")
        return self._pool

    async def connect(self) -> None:
        self._pool = await create_pool(
            self.dsn, min_size=self._min_size, max_size=self._max_size, prepare=self._prepare
        )

    async def prepare_all(self) -> None:
        """Prepare every open connection again: after migrations, for those opened before the
        schema was there."""
        if self._prepare is None:
            return
        prepare = self._prepare
        pool = self.pool

        async def one() -> None:
            async with pool.acquire() as connection:
                await _ready(connection, prepare)

        await asyncio.gather(*(one() for _ in range(pool.get_idle_size())))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            async with self.pool.acquire(timeout=timeout) as connection:
                return await connection.fetchval("SELECT 1", timeout=timeout) == 1
        except Exception:  # noqa: BLE001 - readiness reports, it does not raise
            return False

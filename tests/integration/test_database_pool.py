"""The service's connection pool: a returned connection costs no server round trip, and
keeps nothing of the work done on it."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from service.adapters import decision_repo
from service.adapters.db import Database, migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(settings):
    database = Database(settings.database_url or "", max_size=1)
    await database.connect()
    yield database
    await database.close()


async def last_statement(settings, pid: int) -> str:
    observer = await asyncpg.connect(settings.database_url)
    try:
        return await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await observer.close()


async def test_a_returned_connection_is_not_reset_by_a_query(database, settings):
    # given a pooled connection that ran a statement
    async with database.pool.acquire() as connection:
        pid = connection.get_server_pid()
        await connection.fetchval("SELECT 'the last statement of the work'")
    # then returning it sent nothing more to the server
    assert await last_statement(settings, pid) == "SELECT 'the last statement of the work'"


async def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns(database):
    # given a connection returned inside a transaction it opened and never ended
    async with database.pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMPORARY TABLE left_open (n int) ON COMMIT DROP")
        await connection.execute("SELECT pg_advisory_xact_lock(4242)")
    # then the next user of the connection is outside any transaction, holds no lock of it
    async with database.pool.acquire() as connection:
        assert not connection.is_in_transaction()
        assert await connection.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
        assert await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ) == 0


async def test_the_service_opens_its_whole_pool_at_start(app, settings):
    # given the service started, nothing asked of the database yet by a caller
    pool = app.state.service.database.pool
    # then every connection of the pool is open, so that no first grant waits for one
    assert pool.get_size() == settings.database_pool_size
    assert pool.get_min_size() == settings.database_pool_size


async def prepared_for_decisions(connection: asyncpg.Connection) -> bool:
    return await connection.fetchval(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", decision_repo.CONTEXT
    ) == 1


async def test_a_connection_is_ready_for_decisions_before_its_first_grant(infra):
    # given a database without the schema yet, and a pool opened on it that prepares
    # its connections for decisions
    name = f"pool_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(infra.database_url)
    database = Database(urlunsplit(parts._replace(path=f"/{name}")), max_size=3, min_size=3,
                        prepare=decision_repo.prepare_connection)
    try:
        await database.connect()
        # when the schema is migrated and the connections prepared again
        await migrate(database.pool)
        await database.prepare_all()
        # then every connection has the decision's statements prepared, before any grant
        held = [await database.pool.acquire() for _ in range(3)]
        assert [await prepared_for_decisions(c) for c in held] == [True, True, True]
        lost = held[0].get_server_pid()
        for connection in held:
            await database.pool.release(connection)
        # and so has a connection opened afterwards, in place of one that was lost
        await admin.execute("SELECT pg_terminate_backend($1)", lost)
        await asyncio.sleep(0.2)
        reopened = [await database.pool.acquire() for _ in range(3)]
        assert lost not in {c.get_server_pid() for c in reopened}
        assert [await prepared_for_decisions(c) for c in reopened] == [True, True, True]
        for connection in reopened:
            await database.pool.release(connection)
    finally:
        await database.close()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()

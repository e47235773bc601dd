"""The service's connection pool: a returned connection costs no server round trip, and
keeps nothing of the work done on it."""

from __future__ import annotations

import asyncpg
import pytest

from service.adapters.db import Database

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

"""`outbox status | retry | skip` from the operations package, on a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.adapters import outbox
from service.adapters.db import Database
from tests.integration.operating import run_cli, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(infra) -> AsyncIterator[Database]:
    async with scratch_database(infra.database_url) as scratch:
        yield scratch


async def test_a_quarantined_message_is_listed_then_retried_with_an_audit(database):
    # given a message quarantined after failing on its own
    async with database.pool.acquire() as connection, connection.transaction():
        await outbox.add(connection, topic="t", key="O-1", message_id="m-1", payload="{}")
        row_id = await connection.fetchval("SELECT id FROM outbox WHERE message_id = 'm-1'")
        await outbox.mark_failed(connection, row_id, "topic not allowed", quarantine_after=1,
                                 max_backoff=1.0)
    env = {"DATABASE_URL": database.dsn}
    # when the operator looks at the outbox
    status = await run_cli("outbox", "status", env=env)
    # then it lists the quarantined message with its error
    assert status.code == 0, status.err
    assert "pending: 0, quarantined: 1" in status.out
    assert f"#{row_id} t key=O-1 message=m-1 attempts=1" in status.out
    # when the operator retries it
    retried = await run_cli("outbox", "retry", str(row_id), "--by", "ops-ana", "--reason",
                            "ACL fixed", env=env)
    # then it is back in line, and the decision is audited
    assert retried.code == 0, retried.err
    assert "retry by ops-ana (ACL fixed), audited" in retried.out
    assert "pending: 1, quarantined: 0" in (await run_cli("outbox", "status", env=env)).out
    assert await database.pool.fetchval(
        "SELECT actor FROM outbox_operator_actions WHERE outbox_id = $1", row_id) == "ops-ana"
    # and retrying what is not quarantined is refused
    again = await run_cli("outbox", "skip", str(row_id), "--by", "ops-ana", "--reason", "x",
                          env=env)
    assert again.code == 1

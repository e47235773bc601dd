"""The locks a decision takes: the order's customer first, then the order's row, and the
customer the order has once its row is locked, even when a snapshot moved it meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.adapters import decision_repo
from tests.builders import unique

pytestmark = pytest.mark.integration

CUSTOMER_LOCK = "SELECT hashtextextended('customer:' || $1 || ':EUR', 0)"


@pytest.fixture
async def connections(app, settings) -> AsyncIterator[list[asyncpg.Connection]]:
    opened = [await asyncpg.connect(settings.database_url) for _ in range(3)]
    yield opened
    for connection in opened:
        await connection.close()


async def an_order(connection: asyncpg.Connection, customer: str) -> str:
    order_id = unique("LOCKS")
    await connection.execute(
        "INSERT INTO orders (order_id, known, currency, customer_id) VALUES ($1, true, 'EUR', $2)",
        order_id, customer,
    )
    return order_id


async def customers_locked_by(connection: asyncpg.Connection, pid: int,
                              *customers: str) -> list[str]:
    keys = {await connection.fetchval(CUSTOMER_LOCK, c): c for c in customers}
    rows = await connection.fetch(
        "SELECT (classid::bigint << 32) | objid::bigint AS key FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND pid = $1", pid,
    )
    held = {row["key"] for row in rows}
    return sorted(customer for key, customer in keys.items() if key in held)


async def test_a_decision_waiting_for_the_customer_does_not_hold_the_order_yet(connections):
    # given an order whose customer is locked by another decision
    other, deciding, snapshot = connections
    customer = unique("C")
    order_id = await an_order(other, customer)
    await other.execute("BEGIN")
    await other.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        f"customer:{customer}:EUR")
    # when a decision on the order starts
    await deciding.execute("BEGIN")
    locking = asyncio.create_task(decision_repo.lock_order(deciding, order_id))
    await asyncio.sleep(0.3)
    assert not locking.done()
    # then the order's row is free meanwhile: a snapshot may still be applied to it
    await snapshot.execute("BEGIN")
    await snapshot.fetchrow("SELECT 1 FROM orders WHERE order_id = $1 FOR UPDATE NOWAIT",
                            order_id)
    await snapshot.execute("ROLLBACK")
    # and the decision goes on once the customer is free
    await other.execute("COMMIT")
    row = await asyncio.wait_for(locking, 10)
    assert row["order_id"] == order_id
    await deciding.execute("ROLLBACK")


async def test_a_decision_holds_the_customer_a_snapshot_moved_the_order_to(connections):
    # given an order of customer A whose row a snapshot holds while moving it to customer B
    observer, deciding, snapshot = connections
    before, after = unique("A"), unique("B")
    order_id = await an_order(observer, before)
    await snapshot.execute("BEGIN")
    await snapshot.execute("UPDATE orders SET customer_id = $2 WHERE order_id = $1",
                           order_id, after)
    # when a decision on the order waits for the row, and the snapshot commits
    await deciding.execute("BEGIN")
    locking = asyncio.create_task(decision_repo.lock_order(deciding, order_id))
    await asyncio.sleep(0.3)
    assert not locking.done()
    await snapshot.execute("COMMIT")
    row = await asyncio.wait_for(locking, 10)
    # then the decision sees the order's new customer and holds that customer's lock
    assert row["customer_id"] == after
    pid = deciding.get_server_pid()
    assert after in await customers_locked_by(observer, pid, before, after)
    await deciding.execute("ROLLBACK")


async def test_an_unknown_order_takes_no_lock(connections):
    observer, deciding, _ = connections
    await deciding.execute("BEGIN")
    assert await decision_repo.lock_order(deciding, unique("NONE")) is None
    assert await observer.fetchval(
        "SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype IN ('advisory', 'tuple')",
        deciding.get_server_pid(),
    ) == 0
    await deciding.execute("ROLLBACK")

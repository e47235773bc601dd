"""The locks a decision takes, always in one order: customer, then order, then appeasement.

Limits per customer are checked and reserved under a transaction-scoped advisory lock on
(customer, currency); limits per order under the order's row lock. Every path that
decides takes them in this order, so two decisions never wait for each other in a circle.
"""

from __future__ import annotations

import asyncpg

from service.adapters import projection_repo
from service.domain.projection import OrderState

CUSTOMER_OF = "SELECT customer_id, currency FROM orders WHERE order_id = $1"
LOCK_CUSTOMER = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


async def lock_customer(
    connection: asyncpg.Connection, customer_id: str | None, currency: str | None
) -> None:
    if customer_id:
        await connection.execute(LOCK_CUSTOMER, f"customer:{customer_id}:{currency or ''}")


async def lock_for_decision(connection: asyncpg.Connection, order_id: str) -> OrderState | None:
    """Lock the order's customer, then the order, and load the order; None when unknown.

    A snapshot may change the order's customer between the first read and the row lock:
    then that customer is locked too before going on.
    """
    row = await connection.fetchrow(CUSTOMER_OF, order_id)
    if row is None:
        return None
    await lock_customer(connection, row["customer_id"], row["currency"])
    order = await projection_repo.lock_existing_order(connection, order_id)
    if order is not None and (order.customer.id, order.currency) != (
        row["customer_id"], row["currency"]
    ):
        await lock_customer(connection, order.customer.id, order.currency)
    return order

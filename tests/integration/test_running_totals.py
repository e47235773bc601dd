"""What a decision counts is kept as running totals; they always equal the sums of the
appeasements themselves, whatever grants, decisions and refund outcomes came in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemas.commands import REFUND_CANCEL, REFUND_RELEASE
from service.domain.lifecycle import GRANTED, HOLDS_MONEY, STATUS_NAMES
from tests.builders import line, unique
from tests.conftest import eventually
from tests.integration.appeasing import AGENT, LEAD, MANAGER, TABLE_ORDER, given_order, grant

pytestmark = pytest.mark.integration

#: Rows where a running total differs from the sum of the appeasements it counts.
DRIFT = """
WITH line_sums AS (
    SELECT a.order_id, al.order_line, sum(al.gross_minor) AS gross, sum(al.tax_minor) AS tax
    FROM appeasement_allocations al JOIN appeasements a USING (appeasement_id)
    WHERE appeasement_holds_money(a.status) AND a.order_id = ANY($1)
    GROUP BY a.order_id, al.order_line
), reason_sums AS (
    SELECT order_id, reason,
        sum(amount_minor) FILTER (WHERE appeasement_holds_money(status)) AS held,
        sum(amount_minor) FILTER (WHERE appeasement_granted(status)) AS granted
    FROM appeasements WHERE order_id = ANY($1) GROUP BY order_id, reason
), day_sums AS (
    SELECT customer_id, currency, (created_at AT TIME ZONE 'UTC')::date AS day,
        sum(amount_minor) AS granted
    FROM appeasements
    WHERE appeasement_granted(status) AND customer_id = ANY($2)
    GROUP BY customer_id, currency, day
)
SELECT 'line' AS total, order_id || '/' || order_line AS of FROM line_sums s
    FULL JOIN (SELECT * FROM appeased_by_line WHERE order_id = ANY($1)) t
    USING (order_id, order_line)
WHERE (coalesce(s.gross, 0), coalesce(s.tax, 0))
    IS DISTINCT FROM (coalesce(t.gross_minor, 0), coalesce(t.tax_minor, 0))
UNION ALL
SELECT 'reason', order_id || '/' || reason FROM reason_sums s
    FULL JOIN (SELECT * FROM appeased_by_reason WHERE order_id = ANY($1)) t
    USING (order_id, reason)
WHERE (coalesce(s.held, 0), coalesce(s.granted, 0))
    IS DISTINCT FROM (coalesce(t.held_minor, 0), coalesce(t.granted_minor, 0))
UNION ALL
SELECT 'customer day', customer_id || '/' || day FROM day_sums s
    FULL JOIN (SELECT * FROM granted_by_customer_day WHERE customer_id = ANY($2)) t
    USING (customer_id, currency, day)
WHERE coalesce(s.granted, 0) IS DISTINCT FROM coalesce(t.granted_minor, 0)
"""


@pytest.fixture
async def database(infra, app) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to the service's database, once the service has migrated it."""
    connection = await asyncpg.connect(infra.database_url)
    yield connection
    await connection.close()


async def test_the_databases_statuses_are_the_lifecycles(database):
    # given every status an appeasement can have
    for status in STATUS_NAMES:
        # when the database is asked whether it holds money and whether it was let out
        holds, granted = await database.fetchrow(
            "SELECT appeasement_holds_money($1::text), appeasement_granted($1::text)", status
        )
        # then it answers as the lifecycle does
        assert (holds, granted) == (status in HOLDS_MONEY, status in GRANTED), status


async def test_appeasement_money_cannot_be_deleted_behind_the_totals(api, publish, database):
    # given a granted appeasement
    order_id = unique("KEPT")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = (await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                           "amounts": {"shipping": "5.90"}})).json()
    # when its allocation or the appeasement is deleted, or its money changed
    for statement in (
        "DELETE FROM appeasement_allocations WHERE appeasement_id = $1",
        "UPDATE appeasement_allocations SET gross_minor = 1 WHERE appeasement_id = $1",
        "DELETE FROM appeasements WHERE appeasement_id = $1",
    ):
        # then the database refuses
        with pytest.raises(asyncpg.RestrictViolationError):
            await database.execute(statement, granted["id"])


async def test_the_customer_window_counts_from_the_moment_it_opens(api, publish, database):
    # given a customer with four grants of 100.00 let out on one order: one just before
    # the agents' 30-day window opened, one just after, one 10 days ago, one now
    customer = unique("WINDOW")
    orders = [unique("WINORD") for _ in range(3)]
    for order_id in orders:
        await given_order(api, publish, order_id, [line("L1", 1, "1000.00", "173.55")],
                          customer_id=customer)
    ids = [(await grant(api, orders[0], product("100.00"))).json()["id"] for _ in range(4)]
    for appeasement_id, age in zip(ids, ["30 days 1 minute", "29 days 23 hours 59 minutes",
                                         "10 days", "0 days"], strict=True):
        await database.execute(
            "UPDATE appeasements SET created_at = now() - $2::text::interval WHERE appeasement_id = $1",
            appeasement_id, age,
        )
    # when an agent (500.00 per customer over 30 days) asks 100.00 twice, then 0.01,
    # on the customer's other orders
    statuses = [(await grant(api, order_id, product(amount), caller=AGENT)).json()["status"]
                for order_id, amount in [(orders[1], "100.00"), (orders[2], "100.00"),
                                         (orders[2], "0.01")]]
    # then 300.00 was counted in the window: 500.00 is let out and the cent is held
    assert statuses == ["PENDINGRELEASE", "PENDINGRELEASE", "PENDINGAPPROVAL"]
    assert await database.fetch(DRIFT, orders, [customer]) == []


def product(amount: str, reason: str = "ARTICLE_DEFECTIVE") -> dict[str, Any]:
    return {"reason": reason, "amounts": {"product": amount}}


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.sampled_from(["agent", "manager"]),
                  st.sampled_from(["ARTICLE_DEFECTIVE", "CUSTOMER_COMPLAINT"]),
                  st.sampled_from(["0.01", "40.00", "90.00", "150.00"])),
        st.tuples(st.sampled_from(["approve", "decline", "release", "cancel"]),
                  st.integers(0, 7)),
    ),
    min_size=3, max_size=10,
)
CALLERS = {"agent": AGENT, "manager": MANAGER}


@hypothesis_settings(max_examples=12, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(steps=STEPS)
async def test_the_totals_equal_the_sums_after_any_sequence(api, publish, database, steps):
    # given a customer's two orders
    customer = unique("TOTALS")
    orders = [unique("TOTORD") for _ in range(2)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER, customer_id=customer)
    made: list[dict[str, Any]] = []
    for number, step in enumerate(steps):
        # when grants, decisions and refund outcomes come one after another
        await _take(api, publish, orders[number % 2], made, step)
        # then after each, every running total equals the sum of what it counts
        assert await database.fetch(DRIFT, orders, [customer]) == [], (number, step)


async def _take(api, publish, order_id: str, made: list[dict[str, Any]], step: tuple) -> None:
    if step[0] == "grant":
        _, caller, reason, amount = step
        answer = await grant(api, order_id, product(amount, reason), caller=CALLERS[caller])
        if answer.status_code == 201:
            made.append(answer.json())
        return
    action, pick = step
    wanted = "PENDINGAPPROVAL" if action in ("approve", "decline") else "PENDINGRELEASE"
    candidates = [m for m in made if m["status"] == wanted]
    if not candidates:
        return
    target = candidates[pick % len(candidates)]
    if action in ("approve", "decline"):
        answer = await api.post(f"/v1/appeasements/{target['id']}/{action}", json={},
                                headers=LEAD)
        if answer.status_code == 200:
            target["status"] = answer.json()["status"]
        return
    topic = REFUND_RELEASE if action == "release" else REFUND_CANCEL
    await publish(topic, {"order_id": target["order_id"], "credit_note_number": target["id"],
                          "user": "psp"}, key=target["order_id"])

    async def moved() -> str | None:
        body = (await api.get(f"/v1/appeasements/{target['id']}", headers=MANAGER)).json()
        return None if body["status"] == wanted else body["status"]

    target["status"] = await eventually(moved)

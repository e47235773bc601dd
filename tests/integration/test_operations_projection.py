"""`projection rebuild` against the running service: the OMS projection rebuilt from the
topics beside the live one, caught up, swapped in; appeasements stay as they are."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from schemas import consumed as wire
from service.adapters.kafka import ensure_topics
from service.domain.projection import ProjectionRules
from service.service_layer.rebuild import PREVIOUS, SHADOW, Rebuild, RebuildRefused
from tests.builders import encode, jsonrpc, line, order, refund, return_, unique
from tests.conftest import Publish, balance_when, line_of
from tests.integration.appeasing import TABLE_ORDER, given_order, grant
from tests.integration.operating import run_cli, scratch_database

pytestmark = pytest.mark.integration


async def given_history(api: httpx.AsyncClient, publish: Publish) -> dict[str, dict[str, Any]]:
    """Two orders with refunds, a return and an appeasement; their balances as served."""
    table, lamp = unique("REBUILD"), unique("REBUILD")
    await given_order(api, publish, table, TABLE_ORDER)
    await given_order(api, publish, lamp, [line("L1", 1, "60.00", "10.41"),
                                           line("L2", 2, "4.90", "0.85", product_type="SHIPPING")])
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        table, unique("CN"), [("L2", "39.90", "6.92")], refund_type="Cancellation")}, key=table)
    await publish(wire.RETURN_UPDATED, {"return": return_(lamp, unique("RMA"), [1], "REQUESTED")},
                  key=lamp)
    granted = await grant(api, table, {"reason": "DELIVERY_DELAYED",
                                       "amounts": {"shipping": "5.90"}})
    assert granted.status_code == 201, granted.text
    return {
        table: await balance_when(
            api, table, lambda b: line_of(b, "L2")["refunded"]["gross"] == "39.90"),
        lamp: await balance_when(
            api, lamp, lambda b: line_of(b, "L1")["under_return_quantity"] == 1),
    }


async def balances(api: httpx.AsyncClient, order_ids: list[str]) -> dict[str, Any]:
    return {order_id: (await api.get(f"/v1/orders/{order_id}/balance")).json()
            for order_id in order_ids}


async def test_the_rebuilt_projection_equals_the_live_one_and_catches_up_before_the_swap(
    app, api, publish, settings
):
    # given orders with refunds, a return and an appeasement, applied by the running service
    before = await given_history(api, publish)
    table, lamp = list(before)
    job = Rebuild(settings.database_url, settings.kafka_bootstrap_servers,
                  settings.projection_rules(), dead_letter_topic=settings.dead_letter_topic)
    published: list[str] = []

    async def an_event_arrives_during_the_rebuild() -> None:
        # a refund the live service applies after the rebuild read the topics
        if not published:
            published.append(unique("CN"))
            await publish(wire.REFUND_UPDATED, {"refund": refund(
                lamp, published[0], [("L2", "4.90", "0.85")], refund_type="Cancellation")},
                key=lamp)
            await balance_when(
                api, lamp, lambda b: line_of(b, "L2")["refunded"]["gross"] == "4.90")

    try:
        # when the projection is rebuilt while the service serves
        await job.prepare()
        assert await job.replay() > 0
        report = await job.compare()
        # then the rebuilt tables hold the same orders as the live ones, line for line
        assert report.rebuilt_orders > 0
        live_now = await balances(api, [table, lamp])
        assert live_now == before
        # when an event arrives before the swap, and the swap catches up under its lock
        await job.swap(before_swap=an_event_arrives_during_the_rebuild)
    finally:
        await job.close()
    assert job.report.swapped
    # then the service serves the rebuilt projection: every balance as the live one was,
    # appeasements included, and the event that arrived during the rebuild is in it
    after = await balances(api, [table, lamp])
    assert after[table] == before[table]
    assert line_of(after[lamp], "L2")["refunded"]["gross"] == "4.90"
    assert line_of(after[lamp], "L1") == line_of(before[lamp], "L1")
    assert line_of(after[table], "L3")["appeased"]["gross"] == "5.90"
    # and the previous tables are kept aside, the rebuild's schema is gone
    pool = app.state.service.database.pool
    schemas = {row["nspname"] for row in await pool.fetch("SELECT nspname FROM pg_namespace")}
    assert PREVIOUS in schemas and SHADOW not in schemas
    # and the service goes on with the new tables: events and grants after the swap apply
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        table, unique("CN"), [("L1", "100.00", "17.36")])}, key=table)
    await balance_when(api, table,
                       lambda b: line_of(b, "L1")["refunded"]["gross"] == "100.00")
    again = await grant(api, table, {"reason": "CUSTOMER_COMPLAINT", "amounts": {"product": "5.00"}})
    assert again.status_code == 201, again.text


async def test_the_rebuild_command_swaps_with_a_progress_report(app, api, publish, settings):
    # given orders applied by the running service
    before = await given_history(api, publish)
    env = {"DATABASE_URL": settings.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers}
    # when the operator builds without swapping
    built = await run_cli("projection", "rebuild", "--no-swap", env=env)
    # then it reports what it read and how the rebuilt tables compare, and nothing changes
    assert built.code == 0, built.err
    assert "read " in built.out and "records in 2 passes" in built.out
    assert f"not swapped: the rebuilt tables are in the schema {SHADOW}" in built.out
    assert await balances(api, list(before)) == before
    # when the operator rebuilds and swaps
    swapped = await run_cli("projection", "rebuild", env=env)
    # then the rebuilt tables are live, and every balance is as it was
    assert swapped.code == 0, swapped.err
    assert "swapped: the rebuilt tables are live" in swapped.out
    assert await balances(api, list(before)) == before


async def test_a_swap_that_would_orphan_an_appeasement_is_refused_and_the_live_tables_stay(
    infra, producer
):
    # given a database of its own whose appeasement's order is on no topic any more
    # (retention), and a topic holding one other order
    topic = unique("oms-events").lower()
    await ensure_topics(infra.bootstrap_servers, [topic], 1)
    kept = unique("KEPT")
    await producer.send_and_wait(topic, encode(jsonrpc(wire.ORDER_CREATED, {"order": order(
        kept, [line("L1", 1, "10.00", "1.74")])})), key=kept.encode())
    async with scratch_database(infra.database_url) as database:
        pool = database.pool
        await pool.execute("INSERT INTO orders (order_id, known) VALUES ('GONE-1', true)")
        await pool.execute(
            "INSERT INTO appeasements (appeasement_id, order_id, channel, idempotency_key, "
            "request_hash, command_id, status, reason, requested_by, role, currency, taxation, "
            "amount_minor, first_response) VALUES ('APP-GONE', 'GONE-1', 'http', 'k', 'h', 'c', "
            "'RELEASED', 'DELIVERY_DELAYED', 'agent-42', 'agent', 'EUR', 'gross', 590, '{}')")
        job = Rebuild(database.dsn, infra.bootstrap_servers, ProjectionRules(),
                      dead_letter_topic="appeasement.dead_letter", topics=[topic])
        try:
            await job.prepare()
            assert await job.replay() == 1
            report = await job.compare()
            assert (report.only_live, report.only_rebuilt) == (1, 1)
            # when the swap is tried
            with pytest.raises(RebuildRefused, match="appeasements"):
                await job.swap()
        finally:
            await job.close()
        # then the live projection is untouched and the rebuilt tables are left to inspect
        assert await pool.fetchval("SELECT count(*) FROM orders WHERE order_id = 'GONE-1'") == 1
        assert await pool.fetchval(f"SELECT count(*) FROM {SHADOW}.orders") == 1
        assert await pool.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1", PREVIOUS) == 0

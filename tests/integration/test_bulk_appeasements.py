"""Bulk appeasements: a dry run on every order, then one grant per order in the background,
never twice, whatever happens to the runner."""

from __future__ import annotations

import csv
import io

import pytest

from service.adapters import bulk_repo
from tests.builders import unique
from tests.conftest import eventually
from tests.integration.appeasing import AGENT, LEAD, TABLE_ORDER, given_order, grant
from tests.integration.bulk import appeasements_of, create_bulk, finished, given_shipment

pytestmark = pytest.mark.integration

SHIPPING = {"amounts": {"shipping": "5.90"}}


async def three_orders_one_without_shipping_left(api, publish) -> list[str]:
    orders = [unique("BULK") for _ in range(3)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER)
    done = await grant(api, orders[1], {"reason": "DELIVERY_DELAYED", **SHIPPING})
    assert done.status_code == 201, done.text
    return orders


async def test_a_dry_run_then_a_run_grants_once_per_order(api, publish):
    # given three orders, the second one's shipping already given back
    orders = await three_orders_one_without_shipping_left(api, publish)
    # when an agent creates a bulk appeasement of the shipping over the three
    created = await create_bulk(api, {"order_ids": orders}, SHIPPING)
    # then the dry run says what each order would get, and nothing is granted yet
    assert created.status_code == 201, created.text
    bulk = created.json()
    assert bulk["status"] == "DRAFT"
    assert bulk["dry_run"] == {
        "would_grant": 2, "would_hold": 0, "would_refuse": 1,
        "refused_by_code": {"EXCEEDS_CREDITABLE_BALANCE": 1},
        "amount_by_currency": {"EUR": "11.80"},
    }
    assert [i["dry_run"]["status"] for i in bulk["items"]] == [
        "PENDINGRELEASE", "REFUSED", "PENDINGRELEASE"]
    assert await appeasements_of(api, orders[0]) == []
    # when it is run
    started = await api.post(f"/v1/bulk-appeasements/{bulk['id']}/run", headers=AGENT)
    assert started.status_code == 200, started.text
    done = await finished(api, bulk["id"])
    # then two orders are granted, one refused by its rule code, and the bulk is done
    assert done["status"] == "DONE"
    assert done["progress"] == {
        "total": 3, "done": 3, "pending": 0, "granted": 2, "held": 0, "refused": 1,
        "cancelled": 0, "refused_by_code": {"EXCEEDS_CREDITABLE_BALANCE": 1},
    }
    first = await appeasements_of(api, orders[0])
    assert [(a["status"], a["amount"], a["requested_by"], a["command_id"]) for a in first] == [
        ("PENDINGRELEASE", "5.90", "agent-42", f"bulk:{bulk['id']}:{orders[0]}")]
    assert done["items"][0]["appeasement_id"] == first[0]["id"]
    assert len(await appeasements_of(api, orders[1])) == 1  # the earlier grant only
    # and the results are there as CSV too, one row per order
    response = await api.get(f"/v1/bulk-appeasements/{bulk['id']}",
                             headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["order_id"], r["status"], r["code"]) for r in rows] == [
        (orders[0], "GRANTED", ""), (orders[1], "REFUSED", "EXCEEDS_CREDITABLE_BALANCE"),
        (orders[2], "GRANTED", ""),
    ]
    # and a finished bulk cannot be run again
    again = await api.post(f"/v1/bulk-appeasements/{bulk['id']}/run", headers=AGENT)
    assert again.status_code == 422 and again.json()["code"] == "BULK_NOT_RUNNABLE"


async def test_a_runner_that_dies_after_a_grant_never_grants_that_order_twice(
    api, publish, monkeypatch
):
    # given a bulk over three orders, and a database connection that drops once, just after
    # the first order's grant committed and before the bulk recorded it
    orders = [unique("CRASH") for _ in range(3)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER)
    bulk = (await create_bulk(api, {"order_ids": orders}, SHIPPING)).json()
    record = bulk_repo.record_outcome
    crashes: list[str] = []

    async def dropped_once(connection, bulk_id, position, **outcome):
        if bulk_id == bulk["id"] and not crashes:
            crashes.append(outcome["appeasement_id"])
            raise ConnectionResetError("connection lost")
        await record(connection, bulk_id, position, **outcome)

    monkeypatch.setattr(bulk_repo, "record_outcome", dropped_once)
    # when it runs, and the runner resumes after the failure
    await api.post(f"/v1/bulk-appeasements/{bulk['id']}/run", headers=AGENT)
    done = await finished(api, bulk["id"])
    # then the failure did happen after a grant, and still each order has one appeasement
    assert len(crashes) == 1
    assert done["progress"]["granted"] == 3
    granted = [await appeasements_of(api, order_id) for order_id in orders]
    assert [len(each) for each in granted] == [1, 1, 1]
    assert done["items"][0]["appeasement_id"] == crashes[0] == granted[0][0]["id"]


async def test_a_bulk_left_running_is_resumed_without_a_second_grant(api, publish, app):
    # given a bulk whose runner granted the first order and stopped before recording it
    orders = [unique("RESUME") for _ in range(2)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER)
    bulk = (await create_bulk(api, {"order_ids": orders}, SHIPPING)).json()
    service = app.state.service
    await service.bulk_runner.stop()
    try:
        await api.post(f"/v1/bulk-appeasements/{bulk['id']}/run", headers=AGENT)
        async with service.database.pool.acquire() as connection:
            item = await bulk_repo.claim_next(connection, bulk["id"])
        first = await service.bulk_runner._grant(  # what the stopped runner had done
            await _bulk_row(service, bulk["id"]), item
        )
        assert (await api.get(f"/v1/bulk-appeasements/{bulk['id']}")).json()["progress"][
            "pending"] == 2
    finally:
        # when the runner starts again
        await service.bulk_runner.start()
    done = await finished(api, bulk["id"])
    # then it finishes the bulk, and the first order still has its one appeasement
    assert done["status"] == "DONE" and done["progress"]["granted"] == 2
    assert [a["id"] for a in await appeasements_of(api, orders[0])] == [first["appeasement_id"]]
    assert len(await appeasements_of(api, orders[1])) == 1


async def _bulk_row(service, bulk_id: str):
    async with service.database.pool.acquire() as connection:
        return await bulk_repo.get(connection, bulk_id)


async def test_orders_a_carrier_shipped_between_two_dates(api, publish):
    # given orders shipped by one carrier inside and outside a window, and by another carrier
    carrier = unique("CARRIER")
    inside, later, other = unique("SHIP"), unique("SHIP"), unique("SHIP")
    for order_id in (inside, later, other):
        await given_order(api, publish, order_id, TABLE_ORDER)
    await given_shipment(publish, inside, carrier, "2026-11-20T09:00:00Z")
    await given_shipment(publish, later, carrier, "2026-11-22T09:00:00Z")
    await given_shipment(publish, other, "OTHER-" + carrier, "2026-11-20T10:00:00Z")
    selection = {"carrier": carrier.lower(), "shipped_from": "2026-11-20T00:00:00Z",
                 "shipped_to": "2026-11-21T00:00:00Z"}

    async def selected():
        response = await create_bulk(api, selection, {"shipping_in_full": True})
        return response if response.status_code == 201 else None

    # when a bulk selects the carrier's shipments of 20 November (the events are consumed
    # asynchronously)
    created = await eventually(selected)
    # then only the order shipped inside the window is in it, with its own shipping
    assert [(i["order_id"], i["dry_run"]["amount"]) for i in created.json()["items"]] == [
        (inside, "5.90")]


async def test_a_csv_selection_above_the_agent_limit_is_held_for_approval(api, publish):
    # given two orders, listed in an uploaded CSV with a header
    orders = [unique("CSV") for _ in range(2)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER)
    text = "order_id\n" + "\n".join(orders) + "\n"
    # when an agent runs 150.00 of product on each, above the agent's 100.00
    bulk = (await create_bulk(api, {"csv": text}, {"amounts": {"product": "150.00"}},
                              reason="ARTICLE_DEFECTIVE")).json()
    assert bulk["dry_run"]["would_hold"] == 2
    await api.post(f"/v1/bulk-appeasements/{bulk['id']}/run", headers=AGENT)
    done = await finished(api, bulk["id"])
    # then each is held, four eyes as for a single grant, and in the approvals queue
    assert done["progress"]["held"] == 2
    queue = (await api.get("/v1/approvals", headers=LEAD)).json()
    held = {item["appeasement_id"] for item in done["items"]}
    assert held <= {a["id"] for a in queue}
    assert (await api.get("/v1/approvals", headers=AGENT)).status_code == 403


async def test_a_cancelled_bulk_grants_nothing_more(api, publish):
    order_id = unique("CANCEL")
    await given_order(api, publish, order_id, TABLE_ORDER)
    bulk = (await create_bulk(api, {"order_ids": [order_id]}, SHIPPING)).json()
    cancelled = await api.post(f"/v1/bulk-appeasements/{bulk['id']}/cancel", headers=AGENT)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["progress"]["cancelled"] == 1
    run = await api.post(f"/v1/bulk-appeasements/{bulk['id']}/run", headers=AGENT)
    assert run.status_code == 422 and run.json()["code"] == "BULK_NOT_RUNNABLE"
    assert await appeasements_of(api, order_id) == []


async def test_bulk_requests_that_do_not_fit(api):
    nothing = await create_bulk(api, {"order_ids": []}, SHIPPING)
    assert nothing.status_code == 422 and nothing.json()["code"] == "NO_ORDERS_SELECTED"
    two_shapes = await create_bulk(api, {"order_ids": ["X"]},
                                   {"percent": "10", "shipping_in_full": True})
    assert two_shapes.status_code == 422 and two_shapes.json()["code"] == "MALFORMED_REQUEST"
    auditor = await create_bulk(api, {"order_ids": ["X"]}, SHIPPING,
                                caller={"Authorization": "Bearer auditor-token"})
    assert auditor.status_code == 403
    missing = await api.get("/v1/bulk-appeasements/BLK-NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "BULK_NOT_FOUND"

"""An OMS event over-credits money already appeased (a refund on top of it, a snapshot that
drops its line): the balance clamps at zero and an alert goes out."""

from __future__ import annotations

import json

import pytest

from schemas import consumed as wire
from tests.builders import line, order, refund, unique
from tests.conftest import balance_when, line_of
from tests.integration.appeasing import given_order, grant, read_all

pytestmark = pytest.mark.integration


async def alerts_of(infra, order_id: str) -> list:
    """The alerts published for that order, once the topic is quiet."""
    return await read_all(infra.bootstrap_servers, "appeasement.alerts",
                          lambda r: json.loads(r.value)["params"]["order_id"] == order_id)


async def test_a_return_refund_on_an_appeased_line_raises_an_over_credit_alert(api, publish, infra):
    # given candles worth 39.90 of which 30.00 were appeased
    order_id = unique("OVER")
    await given_order(api, publish, order_id, [
        line("L1", 1, "499.00", "86.60"), line("L2", 2, "39.90", "6.92", quantity=2),
    ])
    appeased = (await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                            "lines": [{"line_id": "L2", "amount": "30.00"}]})).json()
    # when the OMS refunds the returned candles in full, and a part of the table
    credit_note = unique("CN")
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, credit_note, [("L2", "39.90", "6.92"), ("L1", "10.00", "1.74")],
        refund_type="Return")}, key=order_id)
    # then the candles' balance clamps at zero, the table's is reduced as usual
    balance = await balance_when(api, order_id,
                                 lambda b: line_of(b, "L2")["refunded"]["gross"] == "39.90")
    assert line_of(balance, "L2")["creditable"]["gross"] == "0.00"
    assert line_of(balance, "L1")["creditable"]["gross"] == "489.00"
    # and one alert names the line, the bucket, the 30.00 credited twice, the refund and
    # the appeasement
    records = await alerts_of(infra, order_id)
    assert [json.loads(r.value)["params"] for r in records] == [{
        "code": "OVER_CREDIT", "order_id": order_id, "order_line": "L2", "bucket": "product",
        "amount": "30.00", "currency": "EUR", "credit_note_number": credit_note,
        "appeasement_ids": [appeased["id"]],
    }]
    assert json.loads(records[0].value)["method"] == "appeasement.alert"
    assert records[0].key == order_id.encode()


async def test_an_over_refund_reports_only_the_appeased_money(api, publish, infra):
    # given a 100.00 line of which 10.00 were appeased
    order_id = unique("OVERREF")
    await given_order(api, publish, order_id, [line("L1", 1, "100.00", "17.36")])
    appeased = (await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                            "lines": [{"line_id": "L1", "amount": "10.00"}]})).json()
    # when the OMS refunds 105.00 on it, 5.00 more than was ever paid
    credit_note = unique("CN")
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, credit_note, [("L1", "105.00", "18.22")], refund_type="Return")}, key=order_id)
    await balance_when(api, order_id, lambda b: line_of(b, "L1")["refunded"]["gross"] == "105.00")
    # then the alert reports the 10.00 appeased, not the OMS's own 5.00 over-refund
    records = await alerts_of(infra, order_id)
    assert [json.loads(r.value)["params"] for r in records] == [{
        "code": "OVER_CREDIT", "order_id": order_id, "order_line": "L1", "bucket": "product",
        "amount": "10.00", "currency": "EUR", "credit_note_number": credit_note,
        "appeasement_ids": [appeased["id"]],
    }]


async def test_a_snapshot_that_drops_an_appeased_line_raises_an_over_credit_alert(
    api, publish, infra
):
    # given a 100.00 line of which 30.00 were appeased, and a 50.00 line
    order_id = unique("OVERDROP")
    await given_order(api, publish, order_id, [
        line("L1", 1, "100.00", "17.36"), line("L2", 2, "50.00", "8.68"),
    ], status_date="2026-11-20T10:00:00Z")
    appeased = (await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                            "lines": [{"line_id": "L1", "amount": "30.00"}]})).json()
    # when a newer snapshot no longer lists L1
    newer = order(order_id, [line("L2", 2, "50.00", "8.68")], status_date="2026-11-21T10:00:00Z")
    await publish(wire.ORDER_UPDATED, {"order": newer}, key=order_id)
    balance = await balance_when(api, order_id, lambda b: line_of(b, "L1")["dropped"])
    assert line_of(balance, "L1")["creditable"]["gross"] == "0.00"
    # then one alert names L1 and the 30.00 appeased on it, with no credit note
    records = await alerts_of(infra, order_id)
    assert [json.loads(r.value)["params"] for r in records] == [{
        "code": "OVER_CREDIT", "order_id": order_id, "order_line": "L1", "bucket": "product",
        "amount": "30.00", "currency": "EUR", "credit_note_number": None,
        "appeasement_ids": [appeased["id"]],
    }]

"""Idempotency, concurrency, the published event and the PSP's outcome, end to end."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import asyncpg
import pytest

from schemas.commands import REFUND_CANCEL, REFUND_RELEASE
from schemas.published import REFUND_UPDATED
from tests.builders import refund, unique
from tests.conftest import balance_when, eventually, line_of
from tests.integration.appeasing import (
    AGENT,
    MANAGER,
    TABLE_ORDER,
    given_order,
    grant,
    published,
    read_all,
    refund_of,
)

pytestmark = pytest.mark.integration


async def test_a_replay_returns_the_first_answer_and_another_body_is_refused(api, publish):
    # given a granted appeasement
    order_id = unique("IDEM")
    await given_order(api, publish, order_id, TABLE_ORDER)
    body = {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}
    first = await grant(api, order_id, body, key="key-1-" + order_id)
    assert first.status_code == 201
    # when the same request comes again with the same key
    replay = await grant(api, order_id, body, key="key-1-" + order_id)
    # then the first answer comes back, unchanged, and nothing is granted twice
    assert replay.status_code == 200
    assert replay.json() == first.json()
    # when the same key comes with another body
    other = await grant(api, order_id, {**body, "comment": "other"}, key="key-1-" + order_id)
    # then it is refused as a reused key
    assert other.status_code == 409
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert len(history["appeasements"]) == 1
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "5.90"


async def test_fifty_concurrent_grants_never_exceed_the_balance(app, api, publish, infra):
    # given an order with 544.80 creditable, on an instance that lets 50 grants on one order
    # in at once (the default sheds some of them: see test_http_problems)
    order_id = unique("RUSH")
    await given_order(api, publish, order_id, TABLE_ORDER)
    appeasements = app.state.service.appeasements
    limits = appeasements._in_flight.limit, appeasements._turns.max_waiting
    appeasements._in_flight.limit = appeasements._turns.max_waiting = 64
    # when 50 grants of 20.00 arrive at once
    body = {"reason": "LOSS_OF_DELIVERY", "amounts": {"product": "20.00"}}
    try:
        responses = await asyncio.gather(*(grant(api, order_id, body) for _ in range(50)))
    finally:
        appeasements._in_flight.limit, appeasements._turns.max_waiting = limits
    # then exactly as many as fit are accepted, the others refused with the balance rule
    accepted = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code != 201]
    assert len(accepted) == 26  # 26 x 20.00 = 520.00 <= 538.90 of product
    assert {p["code"] for p in refused} == {"EXCEEDS_CREDITABLE_BALANCE"}
    balance = await balance_when(api, order_id)
    assert balance["buckets"]["product"]["appeased"]["gross"] == "520.00"
    assert Decimal(balance["buckets"]["product"]["creditable"]["gross"]) == Decimal("18.90")
    # and every accepted one is published exactly once
    ids = {a["id"] for a in accepted}
    records = await read_all(
        infra.bootstrap_servers, REFUND_UPDATED,
        lambda r: refund_of(r).get("order_id") == order_id,
    )
    counts = Counter(refund_of(r)["credit_note_number"] for r in records)
    assert set(counts) == ids
    assert set(counts.values()) == {1}


async def test_the_published_event_has_the_contract_shape(api, publish, infra):
    # given the scratched table order
    order_id = unique("SHAPE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    claim = (await api.post(f"/v1/orders/{order_id}/claims",
                            json={"reason": "ARTICLE_DEFECTIVE"}, headers=AGENT)).json()["id"]
    # when 20 % of the table is granted by an agent
    response = await grant(api, order_id, {
        "reason": "ARTICLE_DEFECTIVE", "comment": "scratch on top", "claim_id": claim,
        "invoice_reference": "INV-1234322", "lines": [{"line_id": "L1", "percent": "20"}],
    }, caller=AGENT)
    assert response.status_code == 201, response.text
    appeasement = response.json()
    # then the event on the topic is the MCOM refund, field by field
    event = await published(infra.bootstrap_servers, appeasement["id"])
    assert event["key"] == order_id
    message = event["message"]
    assert message["jsonrpc"] == "2.0"
    assert message["method"] == "magento.postsales.refund_management.updated"
    assert message["id"] and message["id"] != appeasement["command_id"]
    refund = message["params"]["refund"]
    day = refund["credit_note_date"]
    assert refund == {
        "client": "appeasement-service", "order_id": order_id,
        "store_id": "eu-web", "sales_channel_id": "eu-web",
        "credit_note_number": appeasement["id"], "credit_note_date": day,
        "status": {"code": "PENDINGRELEASE", "name": "Pending release",
                   "reason_code": "REQUESTED", "date": refund["status"]["date"]},
        "refund_type": "Appeasement", "user": "agent-42",
        "refund_reason": "ARTICLE_DEFECTIVE",
        "lines": [{"order_line": "L1", "order_item_id": "SKU-L1",
                   "reason": "ARTICLE_DEFECTIVE", "reason_description": "scratch on top",
                   "payments": [{"ref": "PAY-1",
                                 "details": {"cost_gross": "99.80", "cost_net": "82.48",
                                             "cost_vat": "17.32", "vat_rate": "21"},
                                 "status": {"code": "PENDINGRELEASE"}}]}],
        "appeasement": {
            "id": appeasement["id"], "command_id": appeasement["command_id"], "role": "agent",
            "approved_by": None, "claim_id": claim, "comment": "scratch on top",
            "currency": "EUR", "amount": "99.80", "taxation": "gross",
            "allocation": [{"order_line": "L1", "bucket": "product", "gross": "99.80",
                            "net": "82.48", "tax": "17.32", "tax_rate": "21"}],
            "customer": {"id": f"C-{order_id}", "email": "ana@example.com", "language": "de_DE"},
            "refund_method": {"type": "original_payment", "payment_reference": "PAY-1"},
            "goodwill": {"goodwillReference": appeasement["id"], "goodwillDate": day,
                         "goodwillReason": "ARTICLE_DEFECTIVE",
                         "invoiceReference": "INV-1234322",
                         "items": [{"orderItemReference": "L1", "grossUnitPrice": "99.80",
                                    "quantity": 1, "vatAmount": "17.32", "vatPercent": "21",
                                    "vatType": "NORMAL"}]},
        },
    }


async def test_a_psp_cancel_gives_the_balance_back(api, publish, infra):
    # given 5.90 of shipping appeased
    order_id = unique("CANCEL")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = (await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                           "amounts": {"shipping": "5.90"}})).json()
    # when the PSP cancels the refund
    await publish(REFUND_CANCEL, {"sales_channel_id": "eu-web", "order_id": order_id,
                                  "credit_note_number": granted["id"], "user": "psp"},
                  key=order_id)
    # then the appeasement FAILED, with the transition audited and published
    async def failed():
        body = (await api.get(f"/v1/appeasements/{granted['id']}", headers=MANAGER)).json()
        return body if body["status"] == "FAILED" else None

    body = await eventually(failed)
    assert [(t["from_status"], t["to_status"], t["actor"]) for t in body["transitions"]] == [
        (None, "PENDINGRELEASE", "manager-1"), ("PENDINGRELEASE", "FAILED", "psp"),
    ]
    event = await published(infra.bootstrap_servers, granted["id"], "FAILED")
    assert event["message"]["params"]["refund"]["status"]["name"] == "Failed"
    # and the shipping is creditable again
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L3")["creditable"]["gross"] == "5.90"


async def test_a_release_is_final_and_a_late_cancel_is_refused(api, publish, infra):
    # given a released appeasement A, and B and C pending on the same order
    order_id = unique("RELEASE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    a, b, c = [
        (await grant(api, order_id, {"reason": "LOSS_OF_DELIVERY",
                                     "amounts": {"product": "1.00"}})).json()
        for _ in range(3)
    ]
    outcome = {"order_id": order_id, "user": "psp"}
    await publish(REFUND_RELEASE, {**outcome, "credit_note_number": a["id"]}, key=order_id)
    await published(infra.bootstrap_servers, a["id"], "RELEASED")
    # when an unknown credit note, a cancel of A and A's release again arrive,
    # followed on the same topics and partition by B's release and C's cancel
    await publish(REFUND_RELEASE, {**outcome, "credit_note_number": "CN-UNKNOWN"}, key=order_id)
    await publish(REFUND_CANCEL, {**outcome, "credit_note_number": a["id"]}, key=order_id)
    await publish(REFUND_RELEASE, {**outcome, "credit_note_number": a["id"]}, key=order_id)
    await publish(REFUND_RELEASE, {**outcome, "credit_note_number": b["id"]}, key=order_id)
    await publish(REFUND_CANCEL, {**outcome, "credit_note_number": c["id"]}, key=order_id)
    await published(infra.bootstrap_servers, b["id"], "RELEASED")
    await published(infra.bootstrap_servers, c["id"], "FAILED")
    # then A stays RELEASED with one transition to it, and its money stays appeased
    body = (await api.get(f"/v1/appeasements/{a['id']}", headers=MANAGER)).json()
    assert body["status"] == "RELEASED"
    assert [t["to_status"] for t in body["transitions"]] == ["PENDINGRELEASE", "RELEASED"]
    balance = await balance_when(api, order_id)
    assert balance["buckets"]["product"]["appeased"]["gross"] == "2.00"  # A and B


async def test_own_refund_events_do_not_count_twice(api, publish, infra):
    # given an appeasement whose event went out on the refund topic we also consume
    order_id = unique("OWN")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = (await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                           "amounts": {"shipping": "5.90"}})).json()
    await published(infra.bootstrap_servers, granted["id"])
    # and, after it in the same partition, an OMS refund of 1.00 on the candles
    await publish(REFUND_UPDATED, {"refund": refund(order_id, unique("CN"), [("L2", "1.00", "0.17")])},
                  key=order_id)
    await balance_when(api, order_id, lambda b: line_of(b, "L2")["refunded"]["gross"] == "1.00")
    # then the shipping counts once, as appeased, not also as an OMS refund
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L3")["refunded"]["gross"] == "0.00"
    assert line_of(balance, "L3")["appeased"]["gross"] == "5.90"
    assert balance["totals"]["creditable"]["gross"] == "537.90"


async def test_a_failure_mid_grant_leaves_nothing_half_written(api, publish, monkeypatch):
    # given an order, and a refund event the outbox cannot store (written after the
    # appeasement, its allocation and its transition)
    order_id = unique("HALF")
    await given_order(api, publish, order_id, TABLE_ORDER)
    from service.adapters.outbox import Message
    from service.service_layer.refund_events import RefundEvents

    def unstorable(self, record, order, status_reason):
        return Message("appeasement.refunds", order.order_id, "broken", "\x00", False)

    monkeypatch.setattr(RefundEvents, "message", unstorable)
    # when a grant is attempted, the database refuses it
    with pytest.raises(asyncpg.PostgresError):
        await grant(api, order_id, {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}})
    monkeypatch.undo()
    # then no appeasement, allocation or reservation survived the rollback
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "0.00"
    # and the same request can be granted afterwards
    again = await grant(api, order_id, {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}})
    assert again.status_code == 201

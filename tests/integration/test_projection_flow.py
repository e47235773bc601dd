"""MCOM messages on the real broker, folded into the real database, read back over HTTP."""

from __future__ import annotations

import json

import pytest

from schemas import consumed as wire
from tests.builders import line, order, payment, refund, return_, unique
from tests.conftest import balance_when, eventually, line_of, read_topic
from tests.integration.bulk import given_shipment

pytestmark = pytest.mark.integration


async def test_a_gross_taxed_eu_order_with_shipping_is_creditable_per_bucket(api, publish):
    # given an EU order: a table, two candles and a SHIPPING line, all captured
    order_id = unique("EU")
    lines = [
        line("L1", 1, "499.00", "86.60"),
        line("L2", 2, "39.90", "6.92", quantity=2),
        line("L3", 3, "5.90", "1.02", product_type="SHIPPING"),
    ]
    # when the OMS publishes order_management.created
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines)}, key=order_id)
    # then the balance splits product and shipping, each with its tax
    balance = await balance_when(api, order_id)
    assert balance["currency"] == "EUR" and balance["taxation"] == "gross"
    assert balance["appeasable"] is True
    assert balance["buckets"]["product"]["creditable"] == {
        "gross": "538.90", "net": "445.38", "tax": "93.52"
    }
    assert balance["buckets"]["shipping"]["creditable"] == {
        "gross": "5.90", "net": "4.88", "tax": "1.02"
    }
    assert balance["totals"]["paid"]["gross"] == "544.80"
    assert line_of(balance, "L3")["bucket"] == "shipping"


async def test_only_captured_money_is_creditable(api, publish):
    # given a line half captured and half authorised, and a line without payments on an
    # order whose transaction is only authorised
    order_id = unique("PARTIAL")
    lines = [
        line("L1", 1, "100.00", "19.00", rate="19", payments=[
            payment("60.00", "11.40", "CAPTURED"), payment("40.00", "7.60", "AUTHORIZED"),
        ]),
        line("L2", 2, "20.00", "3.80", rate="19", payment_status=None),
    ]
    snapshot = order(order_id, lines, authorization_status="AUTHORIZED")
    # when the order arrives
    await publish(wire.ORDER_CREATED, {"order": snapshot}, key=order_id)
    # then only the captured 60.00 is paid and creditable
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L1")["creditable"] == {"gross": "60.00", "net": "48.60", "tax": "11.40"}
    assert line_of(balance, "L2")["paid"]["gross"] == "0.00"
    assert balance["totals"]["creditable"]["gross"] == "60.00"


async def test_a_payment_exception_order_is_not_appeasable(api, publish):
    # given an order in ERROR after a capture failure
    order_id = unique("ERR")
    snapshot = order(order_id, [line("L1", 1, "50.00", "8.68")], status="ERROR",
                     status_reason="CAPTUREFAILURE")
    # when it arrives
    await publish(wire.ORDER_CREATED, {"order": snapshot}, key=order_id)
    # then nothing is creditable and the balance says why
    balance = await balance_when(api, order_id)
    assert balance["appeasable"] is False
    assert balance["not_appeasable_reason"] == "PAYMENT_ERROR"
    assert balance["totals"]["creditable"]["gross"] == "0.00"


async def test_a_cancelled_line_has_nothing_creditable(api, publish):
    # given a captured order of two lines
    order_id = unique("CXL")
    lines = [line("L1", 1, "30.00", "5.21"), line("L2", 2, "20.00", "3.47")]
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines)}, key=order_id)
    # when the OMS cancels L2
    await publish(wire.LINE_CANCELLED, {"order_id": order_id, "order_line_id": "L2"}, key=order_id)
    # then L2 is cancelled with nothing creditable, L1 is untouched
    balance = await balance_when(api, order_id, lambda b: line_of(b, "L2")["cancelled"])
    assert line_of(balance, "L2")["creditable"]["gross"] == "0.00"
    assert line_of(balance, "L1")["creditable"]["gross"] == "30.00"


async def test_a_return_holds_its_units_until_its_refund_arrives(api, publish):
    # given two candles of 19.95 each, captured
    order_id = unique("RET")
    lines = [line("L1", 1, "39.90", "6.92", quantity=2)]
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines)}, key=order_id)
    # when a return of one candle is requested
    rma = unique("RMA")
    await publish(wire.RETURN_UPDATED, {"return": return_(order_id, rma, [1], "REQUESTED")},
                  key=order_id)
    # then one unit is under return and not creditable
    held = await balance_when(api, order_id, lambda b: line_of(b, "L1")["under_return_quantity"])
    assert line_of(held, "L1")["under_return"]["gross"] == "19.95"
    assert line_of(held, "L1")["creditable"]["gross"] == "19.95"
    # when the return refund is released
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, unique("CN"), [("L1", "19.95", "3.46")], rma=rma)}, key=order_id)
    # then the unit is refunded, no longer under return, and the rest stays creditable
    done = await balance_when(api, order_id, lambda b: line_of(b, "L1")["refunded"]["gross"] != "0.00")
    assert line_of(done, "L1")["under_return_quantity"] == 0
    assert line_of(done, "L1")["refunded"] == {"gross": "19.95", "net": "16.49", "tax": "3.46"}
    assert line_of(done, "L1")["creditable"] == {"gross": "19.95", "net": "16.49", "tax": "3.46"}


async def test_a_failed_oms_refund_gives_the_balance_back(api, publish):
    # given an order with a refund pending release on its line
    order_id = unique("FAIL")
    await publish(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "80.00", "12.77")])},
                  key=order_id)
    credit_note = unique("CN")
    pending = refund(order_id, credit_note, [("L1", "30.00", "4.79")], status="PENDING RELEASE",
                     refund_type="Cancellation")
    await publish(wire.REFUND_UPDATED, {"refund": pending}, key=order_id)
    held = await balance_when(api, order_id, lambda b: b["totals"]["refunded"]["gross"] == "30.00")
    assert held["totals"]["creditable"]["gross"] == "50.00"
    # when the same credit note FAILED
    failed = refund(order_id, credit_note, [("L1", "30.00", "4.79")], status="FAILED",
                    refund_type="Cancellation")
    await publish(wire.REFUND_UPDATED, {"refund": failed}, key=order_id)
    # then the money is creditable again
    back = await balance_when(api, order_id, lambda b: b["totals"]["refunded"]["gross"] == "0.00")
    assert back["totals"]["creditable"]["gross"] == "80.00"


async def test_an_older_credit_note_update_delivered_late_changes_nothing(api, publish):
    # given a credit note that failed on the 21st and was released on the 23rd
    order_id = unique("LATE")
    await publish(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "80.00", "12.77")])},
                  key=order_id)
    credit_note = unique("CN")

    def update(status: str, day: int) -> dict:
        built = refund(order_id, credit_note, [("L1", "30.00", "4.79")], status=status,
                       refund_type="Cancellation")
        built["status"]["date"] = f"2026-11-{day}T10:00:00Z"
        return {"refund": built}

    await publish(wire.REFUND_UPDATED, update("FAILED", 21), key=order_id)
    await publish(wire.REFUND_UPDATED, update("RELEASED", 23), key=order_id)
    await balance_when(api, order_id, lambda b: b["totals"]["refunded"]["gross"] == "30.00")
    # when the failure of the 21st is delivered again, then another refund of 5.00
    await publish(wire.REFUND_UPDATED, update("FAILED", 21), key=order_id)
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, unique("CN"), [("L1", "5.00", "0.80")], refund_type="Cancellation")},
        key=order_id)
    # then the 30.00 stays refunded: it is not creditable a second time
    after = await balance_when(api, order_id,
                               lambda b: b["totals"]["refunded"]["gross"] in ("35.00", "5.00"))
    assert after["totals"]["refunded"]["gross"] == "35.00"
    assert after["totals"]["creditable"]["gross"] == "45.00"


async def test_a_duplicate_delivery_has_no_effect(api, publish, app):
    # given an order and a released refund delivered with id X
    order_id = unique("DUP")
    await publish(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "80.00", "12.77")])},
                  key=order_id)
    message_id = unique("MSG")
    credit_note = unique("CN")
    await publish(wire.REFUND_UPDATED, {"refund": refund(order_id, credit_note, [("L1", "10.00", "1.60")])},
                  key=order_id, message_id=message_id)
    await balance_when(api, order_id, lambda b: b["totals"]["refunded"]["gross"] == "10.00")
    # when the wire repeats id X (here with a FAILED status a real duplicate would not carry)
    await publish(wire.REFUND_UPDATED, {"refund": refund(
        order_id, credit_note, [("L1", "10.00", "1.60")], status="FAILED")},
        key=order_id, message_id=message_id)
    # and a later message shows the consumer went past it
    await publish(wire.LINE_CANCELLED, {"order_id": order_id, "order_line_id": "GHOST"}, key=order_id)
    pool = app.state.service.database.pool

    async def marker_applied():
        return await pool.fetchval(
            "SELECT 'GHOST' = ANY(cancelled_line_ids) FROM orders WHERE order_id = $1", order_id)

    from tests.conftest import eventually
    await eventually(marker_applied)
    # then the duplicate changed nothing and the inbox holds id X once
    balance = (await api.get(f"/v1/orders/{order_id}/balance")).json()
    assert balance["totals"]["refunded"]["gross"] == "10.00"
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE message_id = $1", message_id) == 1


async def test_an_older_snapshot_arriving_after_a_newer_one_is_ignored(api, publish):
    # given the newer snapshot, where the line is captured
    order_id = unique("OLD")
    newer = order(order_id, [line("L1", 1, "40.00", "6.39")], status_date="2026-11-21T12:00:00Z")
    older = order(order_id, [line("L1", 1, "40.00", "6.39", payment_status="AUTHORIZED")],
                  status_date="2026-11-20T09:00:00Z")
    await publish(wire.ORDER_UPDATED, {"order": newer}, key=order_id)
    await balance_when(api, order_id)
    # when the older snapshot arrives late, followed by a marker
    await publish(wire.ORDER_CREATED, {"order": older}, key=order_id)
    await publish(wire.LINE_CANCELLED, {"order_id": order_id, "order_line_id": "L1"}, key=order_id)
    # then the line keeps what the newer snapshot said
    balance = await balance_when(api, order_id, lambda b: line_of(b, "L1")["cancelled"])
    assert line_of(balance, "L1")["paid"]["gross"] == "40.00"


async def test_a_poison_message_is_dead_lettered_and_the_next_one_applied(api, producer, settings):
    # given a message that is not JSON on the order topic
    order_id = unique("POISON")
    poison = b"{not json" + order_id.encode()
    await producer.send_and_wait(wire.ORDER_CREATED, poison, key=order_id.encode(),
                                 headers=[("trace", b"abc")])
    # when a good order follows it on the same partition
    from tests.builders import encode, jsonrpc
    good = jsonrpc(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "10.00", "1.60")])})
    await producer.send_and_wait(wire.ORDER_CREATED, encode(good), key=order_id.encode())
    # then the good order is applied
    await balance_when(api, order_id)
    # and the poison is on the dead-letter topic, bytes and headers intact, with the reason
    record = await read_topic(settings.kafka_bootstrap_servers, settings.dead_letter_topic,
                              lambda r: r.value == poison)
    headers = dict(record.headers)
    assert headers["x-error-code"] == b"MALFORMED_JSON"
    assert headers["x-original-topic"] == wire.ORDER_CREATED.encode()
    assert int(headers["x-original-offset"]) >= 0
    assert headers["x-original-partition"].isdigit()
    assert headers["trace"] == b"abc"
    assert record.key == order_id.encode()


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m: m["params"]["order"]["lines"][0].pop("amount"), b"SCHEMA_VALIDATION"),
        (lambda m: m["params"]["order"]["payments"][0].update(currency="XXZ"), b"UNKNOWN_CURRENCY"),
        (lambda m: m.update(method="magento.sales.order_management.deleted"), b"UNKNOWN_METHOD"),
        (lambda m: m.pop("id"), b"INVALID_ENVELOPE"),
    ],
    ids=["schema", "currency", "method", "envelope"],
)
async def test_invalid_messages_are_dead_lettered_with_a_specific_code(
    producer, settings, mutate, code
):
    # given an order message broken in one specific way
    from tests.builders import encode, jsonrpc
    order_id = unique("BAD")
    message = jsonrpc(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "1.00", "0.16")])})
    mutate(message)
    body = encode(message)
    # when it is published
    await producer.send_and_wait(wire.ORDER_CREATED, body, key=order_id.encode())
    # then it lands in the dead-letter topic with that code
    record = await read_topic(settings.kafka_bootstrap_servers, settings.dead_letter_topic,
                              lambda r: r.value == body)
    assert dict(record.headers)["x-error-code"] == code


async def test_a_cloudevents_envelope_is_read_like_json_rpc(api, producer):
    # given a non-MCOM producer sending a CloudEvent
    from tests.builders import encode
    order_id = unique("CE")
    event = {"specversion": "1.0", "id": unique("CE"), "source": "/legacy-shop",
             "type": wire.ORDER_CREATED,
             "data": {"order": order(order_id, [line("L1", 1, "12.00", "0", rate="0")])}}
    # when it arrives on the order topic
    await producer.send_and_wait(wire.ORDER_CREATED, encode(event), key=order_id.encode())
    # then the order is projected
    balance = await balance_when(api, order_id)
    assert balance["totals"]["creditable"]["gross"] == "12.00"


async def test_a_jpy_order_is_kept_in_whole_yen(api, publish):
    # given a yen order, which has no minor unit
    order_id = unique("JPY")
    lines = [line("L1", 1, "12980", "1180", rate="10", currency="JPY")]
    # when it arrives
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines, currency="JPY")}, key=order_id)
    # then amounts are whole yen
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L1")["creditable"] == {"gross": "12980", "net": "11800", "tax": "1180"}


async def test_an_unknown_order_is_a_404_problem(api):
    response = await api.get(f"/v1/orders/{unique('NONE')}/balance")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "ORDER_NOT_FOUND"


async def test_health_and_readiness_answer(api):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["database"], body["broker"]) == ("ready", "ok", "ok")
    assert {name: group["joined"] for name, group in body["consumers"].items()} == {
        "oms-events": True, "commands": True,
    }
    assert all(lag >= 0 for group in body["consumers"].values()
               for lag in group["partitions"].values())
    assert "appeasement_consumed_messages_total" in (await api.get("/metrics")).text
    assert json.loads((await api.get("/asyncapi.json")).text)["asyncapi"] == "3.0.0"


async def test_an_orders_shipments_are_listed_earliest_first(api, publish):
    # given an order shipped in two parcels, the later one told first
    order_id = unique("SHIP")
    await publish(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "80.00", "12.77")])},
                  key=order_id)
    await given_shipment(publish, order_id, "DHL", "2026-11-22T09:00:00Z")
    await given_shipment(publish, order_id, "UPS", "2026-11-20T16:30:00+01:00")

    # when CS looks at its shipments
    async def both() -> list | None:
        answer = await api.get(f"/v1/orders/{order_id}/shipments")
        return answer.json() if answer.status_code == 200 and len(answer.json()) == 2 else None

    shipments = await eventually(both)
    # then each shows when, how, which lines and which parcels, the earliest first
    assert [(s["shipped_at"], s["carriers"], s["line_ids"], s["method"]) for s in shipments] == [
        ("2026-11-20T15:30:00Z", ["UPS"], ["L1"], "standard"),
        ("2026-11-22T09:00:00Z", ["DHL"], ["L1"], "standard"),
    ]
    assert all(len(s["tracking_numbers"]) == 1 for s in shipments)
    # and an order the OMS never told us about is a 404 problem
    missing = await api.get(f"/v1/orders/{unique('NONE')}/shipments")
    assert missing.status_code == 404 and missing.json()["code"] == "ORDER_NOT_FOUND"

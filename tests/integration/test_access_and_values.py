"""Roles per route, amounts as plain decimals, bank details kept to the PSP, refusals kept,
and units kept for the accounting hand-off: through the public interfaces."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from schemas.appeasements import REQUEST
from schemas.commands import APPEASEMENT_CREATE
from service.adapters.sealing import Sealer
from service.domain.errors import DomainError
from service.service_layer.appeasements import Appeasements, Caller, GrantAppeasement
from service.service_layer.refund_events import RefundEvents
from tests.builders import line, unique
from tests.conftest import BANK_KEY, bearer, eventually, read_topic
from tests.integration.appeasing import (
    AGENT,
    INTERN,
    MANAGER,
    TABLE_ORDER,
    given_order,
    grant,
    preview,
    published,
)
from tests.integration.test_appeasement_commands import command, reply_to

pytestmark = pytest.mark.integration

AUDITOR = bearer("auditor-token")
IBAN = "DE89370400440532013000"
SHIPPING = {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}


async def test_a_role_the_policy_does_not_know_may_do_nothing(api, publish):
    # given an order with an open claim
    order_id = unique("NOROLE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    claim = (await api.post(f"/v1/orders/{order_id}/claims", json={"reason": "OTHER"},
                            headers=MANAGER)).json()
    held = (await grant(api, order_id, {"reason": "OTHER", "amounts": {"product": "150.00"}},
                        caller=AGENT)).json()
    # when a caller whose role is unknown to the policy tries each business route
    calls = [
        api.get(f"/v1/orders/{order_id}/balance", headers=INTERN),
        api.get(f"/v1/orders/{order_id}/appeasements", headers=INTERN),
        api.get(f"/v1/appeasements/{held['id']}", headers=INTERN),
        api.get(f"/v1/orders/{order_id}/claims", headers=INTERN),
        api.post(f"/v1/orders/{order_id}/claims", json={"reason": "OTHER"}, headers=INTERN),
        api.post(f"/v1/claims/{claim['id']}/close", json={}, headers=INTERN),
        preview(api, order_id, SHIPPING, caller=INTERN),
        grant(api, order_id, SHIPPING, caller=INTERN),
        api.post(f"/v1/appeasements/{held['id']}/approve", json={}, headers=INTERN),
        api.post(f"/v1/appeasements/{held['id']}/decline", json={}, headers=INTERN),
    ]
    answers = [await call for call in calls]
    # then every one is 403 FORBIDDEN, and the claim is still open
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, "FORBIDDEN")] * 10
    claims = (await api.get(f"/v1/orders/{order_id}/claims", headers=MANAGER)).json()
    assert claims[0]["status"] == "OPEN"


async def test_an_auditor_may_read_but_not_grant_or_close(api, publish):
    order_id = unique("AUDIT")
    await given_order(api, publish, order_id, TABLE_ORDER)
    assert (await api.get(f"/v1/orders/{order_id}/balance", headers=AUDITOR)).status_code == 200
    refused = await grant(api, order_id, SHIPPING, caller=AUDITOR)
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    opened = await api.post(f"/v1/orders/{order_id}/claims", json={"reason": "OTHER"},
                            headers=AUDITOR)
    assert opened.status_code == 403


@pytest.mark.parametrize(("amount", "code"), [
    ("1e30", "INVALID_AMOUNT"),
    ("1" * 35, "INVALID_AMOUNT"),
    ("-5.00", "INVALID_AMOUNT"),
    ("5.900", "CURRENCY_PRECISION"),
    ("5.905", "CURRENCY_PRECISION"),
])
async def test_an_amount_is_a_plain_decimal_in_the_currencys_precision(api, publish, amount, code):
    order_id = unique("AMOUNT")
    await given_order(api, publish, order_id, TABLE_ORDER)
    for answer in (await preview(api, order_id, {"reason": "OTHER",
                                                  "amounts": {"shipping": amount}}),
                   await grant(api, order_id, {"reason": "OTHER",
                                               "amounts": {"shipping": amount}})):
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == code


async def test_a_huge_amount_on_the_command_topic_is_answered_not_dead_lettered(
    api, publish, infra
):
    order_id = unique("RPCHUGE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    sent = await publish(APPEASEMENT_CREATE, command(order_id, lines=[
        {"id": "L3", "amount": Decimal("1E+30"), "reason": "DELIVERY_DELAYED",
         "reason_description": "late"}]), key=order_id)
    [reply] = await reply_to(infra, sent["id"])
    assert reply["error"]["data"]["code"] == "INVALID_AMOUNT"


async def test_bank_fields_need_a_bank_transfer(api, publish, infra):
    # given a card order
    order_id = unique("CARDIBAN")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when a grant carries an IBAN without type bank_transfer
    response = await grant(api, order_id, {
        **SHIPPING, "refund_method": {"iban": IBAN, "account_owner": "Ana Example"},
    })
    # then it is malformed, and the IBAN is not echoed
    assert response.status_code == 422
    assert response.json()["code"] == "MALFORMED_REQUEST"
    assert IBAN not in response.text


async def test_a_payment_reference_must_be_one_of_the_orders(api, publish):
    order_id = unique("PAYREF")
    await given_order(api, publish, order_id, TABLE_ORDER)
    wrong = await grant(api, order_id, {**SHIPPING, "refund_method": {
        "type": "original_payment", "payment_reference": "PAY-OTHER"}})
    assert (wrong.status_code, wrong.json()["code"]) == (422, "MALFORMED_REQUEST")
    right = await grant(api, order_id, {**SHIPPING, "refund_method": {
        "type": "original_payment", "payment_reference": "PAY-1"}})
    assert right.status_code == 201


async def test_a_dead_lettered_command_with_bank_details_is_sealed(
    api, publish, infra, caplog
):
    caplog.set_level(logging.DEBUG)
    # given a command whose refund method is not valid and carries an IBAN
    order_id = unique("DLQIBAN")
    await given_order(api, publish, order_id, TABLE_ORDER)
    sent = await publish(APPEASEMENT_CREATE, command(order_id, refund_method={
        "type": "card", "iban": IBAN, "account_owner": "Ana Example"}), key=order_id)
    # then it is refused on the results topic, and its dead letter does not show the IBAN
    [reply] = await reply_to(infra, sent["id"])
    assert reply["error"]["data"]["code"] == "MALFORMED_REQUEST"
    assert IBAN not in json.dumps(reply)
    letter = await read_topic(
        infra.bootstrap_servers, "appeasement.dead_letter",
        lambda record: (record.key or b"").decode() == order_id,
    )
    assert IBAN.encode() not in letter.value
    assert dict(letter.headers)["x-sealed"] == b"fernet"
    assert IBAN not in caplog.text


async def test_a_refused_command_stays_refused(api, publish, infra):
    # given an order whose shipping was already appeased in full
    order_id = unique("REFUSED")
    await given_order(api, publish, order_id, TABLE_ORDER)
    assert (await grant(api, order_id, SHIPPING)).status_code == 201
    # when a command for the shipping is refused, the first appeasement fails at the PSP,
    # and the command is delivered again
    sent = await publish(APPEASEMENT_CREATE, command(order_id), key=order_id)
    [first] = await reply_to(infra, sent["id"])
    assert first["error"]["data"]["code"] == "EXCEEDS_CREDITABLE_BALANCE"
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    credit_note = history["appeasements"][0]["id"]
    await publish("magento.postsales.refund_management.cancel", {
        "order_id": order_id, "credit_note_number": credit_note}, key=order_id)

    async def failed() -> bool:
        one = await api.get(f"/v1/appeasements/{credit_note}", headers=MANAGER)
        return one.json()["status"] == "FAILED"

    await eventually(failed)
    await publish(APPEASEMENT_CREATE, command(order_id), key=order_id, message_id=sent["id"])
    # then the redelivery gets the same refusal, and nothing is granted under that id
    replies = await reply_to(infra, sent["id"], count=2)
    assert [r["error"]["data"]["code"] for r in replies] == ["EXCEEDS_CREDITABLE_BALANCE"] * 2
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert [a["command_id"] for a in history["appeasements"]] != [sent["id"]]
    assert len(history["appeasements"]) == 1


async def test_a_refusal_is_answered_again_for_the_same_key_and_409_for_another_body(
    api, publish
):
    order_id = unique("REFKEY")
    await given_order(api, publish, order_id, TABLE_ORDER)
    too_much = {"reason": "OTHER", "amounts": {"shipping": "6.00"}}
    first = await grant(api, order_id, too_much, key=f"k-{order_id}")
    again = await grant(api, order_id, too_much, key=f"k-{order_id}")
    other = await grant(api, order_id, SHIPPING, key=f"k-{order_id}")
    assert (first.status_code, again.status_code, other.status_code) == (422, 422, 409)
    assert again.json() == first.json()
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []
    assert [r["code"] for r in history["rejections"]] == [
        "EXCEEDS_CREDITABLE_BALANCE", "IDEMPOTENCY_KEY_REUSED"
    ]


async def test_the_goodwill_hand_off_keeps_units(api, publish, infra):
    order_id = unique("UNITS")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE", "lines": [
        {"line_id": "L2", "unit_amount": "5.00", "quantity": 2}]})
    assert granted.status_code == 201
    event = await published(infra.bootstrap_servers, granted.json()["id"])
    items = event["message"]["params"]["refund"]["appeasement"]["goodwill"]["items"]
    assert [(i["orderItemReference"], i["grossUnitPrice"], i["quantity"], i["vatAmount"])
            for i in items] == [("L2", "5.00", 2, "1.74")]


async def test_bank_details_with_a_card_order_never_reach_the_database(api, publish, settings):
    # given a card order, and a grant that carries an IBAN without a bank transfer
    order_id = unique("NOIBANDB")
    await given_order(api, publish, order_id, [line("L1", 1, "80.00", "13.88")])
    answer = await grant(api, order_id, {"reason": "OTHER", "amounts": {"product": "1.00"},
                                         "refund_method": {"iban": IBAN}})
    # then it is refused, and no table holds the IBAN
    assert answer.status_code == 422
    connection = await asyncpg.connect(settings.database_url)
    try:
        dump: Any = await connection.fetchval(
            """SELECT concat_ws(' ',
                   (SELECT string_agg(a::text, ' ') FROM appeasements a WHERE order_id = $1),
                   (SELECT string_agg(o::text, ' ') FROM outbox o WHERE key = $1),
                   (SELECT string_agg(r::text, ' ') FROM appeasement_rejections r
                    WHERE order_id = $1))""",
            order_id,
        )
    finally:
        await connection.close()
    assert IBAN not in (dump or "")


async def test_a_key_racing_on_two_orders_is_granted_once_and_the_loser_audited(api, publish):
    # given two orders, and one idempotency key sent for both at the same moment
    first, second = unique("RACEKEY"), unique("RACEKEY")
    for order_id in (first, second):
        await given_order(api, publish, order_id, TABLE_ORDER)
    key = unique("KEY")
    answers = await asyncio.gather(*(grant(api, order_id, SHIPPING, key=key)
                                     for order_id in (first, second)))
    # then one is granted, the other is a 409 that its order's audit trail shows
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409], [a.text for a in answers]
    loser = (first, second)[[a.status_code for a in answers].index(409)]
    history = (await api.get(f"/v1/orders/{loser}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []
    assert [r["code"] for r in history["rejections"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_a_grant_whose_event_the_broker_would_refuse_is_refused_before_it_commits(
    app, api, publish
):
    # given the service's use cases with a broker that takes at most 6,000 bytes
    service = app.state.service
    small = Appeasements(service.database, service.policy, RefundEvents(
        Sealer(BANK_KEY), service_name="appeasement-service", max_message_bytes=6_000))
    order_id = unique("TOOBIG")
    await given_order(api, publish, order_id, TABLE_ORDER)
    lines = [{"line_id": "L1", "amount": "0.01"}, {"line_id": "L2", "amount": "0.01"}]
    request = REQUEST.validate_python({"reason": "OTHER", "comment": "é" * 1000,
                                       "lines": lines})
    # when a grant would publish an event above that
    with pytest.raises(DomainError) as refused:
        await small.grant(GrantAppeasement(order_id, request, Caller("agent-42", "manager"),
                                           "http", unique("KEY")))
    # then it is refused with the sizes, and nothing but the refusal is stored
    assert refused.value.code == "MESSAGE_TOO_LARGE"
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []
    assert [r["code"] for r in history["rejections"]] == ["MESSAGE_TOO_LARGE"]

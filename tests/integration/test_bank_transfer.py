"""Orders paid cash on delivery are refunded by bank transfer: details checked, sealed at rest,
published to the PSP, and never written to a log."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from tests.builders import line, unique
from tests.integration.appeasing import AGENT, MANAGER, given_order, grant, published

pytestmark = pytest.mark.integration

ORDER = [line("L1", 1, "80.00", "13.88"), line("L2", 2, "5.90", "1.02", product_type="SHIPPING")]
IBAN = "DE89370400440532013000"
SHIPPING = {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}


def transfer(iban: str = IBAN, **fields) -> dict:
    return {"type": "bank_transfer", "account_owner": "Ana Example", "iban": iban,
            "bic": "COBADEFFXXX", **fields}


async def test_a_cash_on_delivery_order_needs_bank_details(api, publish):
    order_id = unique("COD")
    await given_order(api, publish, order_id, ORDER, payment_method="cod")
    without = await grant(api, order_id, SHIPPING, caller=AGENT)
    assert without.status_code == 422
    assert without.json()["code"] == "BANK_DETAILS_REQUIRED"
    partial = await grant(api, order_id, {**SHIPPING, "refund_method": transfer(bic=None)})
    assert partial.json()["code"] == "BANK_DETAILS_REQUIRED"
    assert partial.json()["missing"] == ["bic"]


@pytest.mark.parametrize(("field", "value"), [
    ("iban", "DE89370400440532013001"),   # checksum off by one
    ("iban", "DE8937040044053201300"),    # one character short for Germany
    ("iban", "XX89370400440532013000"),   # no such country
    ("bic", "COBADE"),                    # too short
])
async def test_bad_bank_details_are_refused_without_echoing_them(api, publish, field, value):
    order_id = unique("BADIBAN")
    await given_order(api, publish, order_id, ORDER, payment_method="cod")
    response = await grant(api, order_id, {**SHIPPING, "refund_method": transfer(**{field: value})})
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_BANK_DETAILS"
    assert response.json()["field"] == field
    assert value not in response.text
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []


async def test_good_bank_details_reach_the_psp_and_nothing_else(
    api, publish, infra, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    # given a cash-on-delivery order
    order_id = unique("CODOK")
    await given_order(api, publish, order_id, ORDER, payment_method="cod")
    # when the shipping is refunded to the customer's account
    response = await grant(api, order_id, {**SHIPPING, "refund_method": transfer(
        iban="DE89 3704 0044 0532 0130 00")}, caller=AGENT)
    # then the API shows the account masked
    assert response.status_code == 201, response.text
    assert response.json()["refund_method"] == {
        "type": "bank_transfer", "iban": "DE…3000", "bic": "COBADEFFXXX"
    }
    # and the PSP gets the full details in the refund event
    event = await published(infra.bootstrap_servers, response.json()["id"])
    appeasement = event["message"]["params"]["refund"]["appeasement"]
    assert appeasement["refund_method"] == {"type": "bank_transfer", "account_owner": "Ana Example",
                                            "iban": IBAN, "bic": "COBADEFFXXX"}
    # and at rest the details are sealed: not in the appeasement, its first answer, or the outbox
    connection = await asyncpg.connect(infra.database_url)
    try:
        row = await connection.fetchrow(
            "SELECT refund_method::text, first_response::text, bank_details, request_hash "
            "FROM appeasements WHERE appeasement_id = $1", response.json()["id"])
        outbox_rows = await connection.fetch(
            "SELECT payload, sealed FROM outbox WHERE key = $1", order_id)
    finally:
        await connection.close()
    assert all(IBAN not in (value or "") for value in row.values())
    assert row["bank_details"].startswith("gAAAA")  # a Fernet token
    refund_rows = [r for r in outbox_rows if r["sealed"]]
    assert refund_rows and all(IBAN not in r["payload"] for r in outbox_rows)
    # and no log line carries the account number
    captured = capfd.readouterr()
    assert IBAN not in caplog.text and "DE89 3704" not in caplog.text
    assert IBAN not in captured.out + captured.err
    assert order_id in caplog.text  # the grant was logged, just not the account


async def test_a_card_order_may_still_be_refunded_by_transfer(api, publish, infra):
    order_id = unique("CARDXFER")
    await given_order(api, publish, order_id, ORDER)
    response = await grant(api, order_id, {**SHIPPING, "refund_method": transfer()})
    assert response.status_code == 201
    event = await published(infra.bootstrap_servers, response.json()["id"])
    assert event["message"]["params"]["refund"]["appeasement"]["refund_method"]["iban"] == IBAN
    assert response.json()["refund_method"]["iban"] == "DE…3000"

"""Every rule a grant can break: a 422 (or 401/403/404/409) problem with its code and numbers,
and nothing stored but the refusal in the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import consumed as wire
from tests.builders import line, return_, unique
from tests.conftest import balance_when, line_of
from tests.integration.appeasing import INTERN, LEAD, MANAGER, TABLE_ORDER, given_order, grant

pytestmark = pytest.mark.integration

US_LINES = [line("L1", 1, "108.25", "8.25", rate="8.25", currency="USD")]
US = {"currency": "USD", "store": "us-web"}

CASES: list[tuple[str, dict[str, Any], dict[str, str], list, dict[str, Any], dict[str, Any]]] = [
    # code, body, caller, lines, order options, expected details
    ("ORDER_NOT_PAID", {"reason": "OTHER", "amounts": {"product": "1.00"}}, MANAGER,
     [line("L1", 1, "10.00", "1.74", payment_status=None)],
     {"authorization_status": "AUTHORIZED"}, {}),
    ("PAYMENT_ERROR", {"reason": "OTHER", "amounts": {"product": "1.00"}}, MANAGER,
     TABLE_ORDER, {"status": "ERROR", "status_reason": "CAPTUREFAILURE"}, {}),
    ("UNKNOWN_LINE", {"reason": "OTHER", "lines": [{"line_id": "L9", "amount": "1.00"}]},
     MANAGER, TABLE_ORDER, {}, {"line": "L9"}),
    ("INVALID_AMOUNT", {"reason": "OTHER", "amounts": {"product": "-1.00"}}, MANAGER,
     TABLE_ORDER, {}, {}),
    ("INVALID_AMOUNT", {"reason": "OTHER", "amounts": {"product": "ten"}}, MANAGER,
     TABLE_ORDER, {}, {}),
    ("CURRENCY_PRECISION", {"reason": "OTHER", "amounts": {"product": "1.234"}}, MANAGER,
     TABLE_ORDER, {}, {"currency": "EUR", "exponent": 2}),
    ("EXCEEDS_CREDITABLE_BALANCE", {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "6.00"}},
     MANAGER, TABLE_ORDER, {}, {"bucket": "shipping", "requested": "6.00", "available": "5.90"}),
    ("EXCEEDS_CREDITABLE_BALANCE",
     {"reason": "CORRECTION_PRICE", "lines": [{"line_id": "L2", "amount": "40.00"}]},
     MANAGER, TABLE_ORDER, {},
     {"bucket": "product", "line": "L2", "requested": "40.00", "available": "39.90"}),
    ("EXCEEDS_TOTAL_CREDITABLE", {"reason": "OTHER", "amounts": {"overage": "544.81"}},
     MANAGER, TABLE_ORDER, {}, {"requested": "544.81", "available": "544.80"}),
    ("UNKNOWN_REASON", {"reason": "BORED", "amounts": {"product": "1.00"}}, MANAGER,
     TABLE_ORDER, {}, {"reason": "BORED"}),
    ("BUCKET_NOT_ALLOWED_FOR_REASON",
     {"reason": "DELIVERY_DELAYED", "amounts": {"product": "1.00"}}, MANAGER, TABLE_ORDER, {},
     {"reason": "DELIVERY_DELAYED", "bucket": "product"}),
    ("REASON_LIMIT_EXCEEDED", {"reason": "CUSTOMER_COMPLAINT", "percent": "40"}, MANAGER,
     TABLE_ORDER, {}, {"reason": "CUSTOMER_COMPLAINT", "which": "max_percent_of_order"}),
    ("REASON_LIMIT_EXCEEDED", {"reason": "OTHER", "amounts": {"product": "500.01"}}, MANAGER,
     TABLE_ORDER, {}, {"limit": "500.00", "requested": "500.01", "which": "max_amount"}),
    ("ROLE_LIMIT_EXCEEDED", {"reason": "ARTICLE_DEFECTIVE", "amounts": {"product": "1500.00"}},
     LEAD, [line("L1", 1, "2000.00", "347.11")], {},
     {"role": "lead", "limit": "1000.00", "requested": "1500.00"}),
    ("TAX_ONLY_REQUIRES_NET_TAXATION", {"reason": "OTHER", "amounts": {"tax": "1.00"}},
     MANAGER, TABLE_ORDER, {}, {"taxation": "gross"}),
    ("TAX_WITH_OTHER_BUCKETS", {"reason": "OTHER", "amounts": {"tax": "1.00", "product": "1.00"}},
     MANAGER, US_LINES, US, {}),
    ("FORBIDDEN", {"reason": "OTHER", "amounts": {"product": "1.00"}},
     INTERN, TABLE_ORDER, {}, {"role": "intern"}),
]


@pytest.mark.parametrize(
    ("code", "body", "caller", "lines", "options", "details"), CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
async def test_a_broken_rule_is_refused_with_its_code_and_numbers(
    api, publish, code, body, caller, lines, options, details
):
    # given an order
    order_id = unique("RULE")
    await given_order(api, publish, order_id, lines, **options)
    # when a grant breaks the rule
    response = await grant(api, order_id, body, caller=caller)
    # then the problem names the rule and its numbers
    problem = response.json()
    assert response.status_code == (403 if code == "FORBIDDEN" else 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["code"] == code
    assert problem["status"] == response.status_code
    assert {key: problem.get(key) for key in details} == details
    # and nothing was stored but the refusal
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []
    assert [r["code"] for r in history["rejections"]] == [code]
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "0.00"


async def test_a_line_under_return_is_not_appeasable(api, publish):
    # given a one-unit table whose return was requested
    order_id = unique("RETURN")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await publish(wire.RETURN_UPDATED, {"return": return_(order_id, "RMA-1", [1], "REQUESTED")},
                  key=order_id)
    await balance_when(api, order_id, lambda b: line_of(b, "L1")["under_return_quantity"] == 1)
    # when the table's line is named
    response = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                           "lines": [{"line_id": "L1", "percent": "20"}]})
    # then it is refused: the return refund is about to credit it
    assert response.status_code == 422
    assert response.json()["code"] == "LINE_UNDER_RETURN"
    assert response.json()["line"] == "L1"
    # and a unit of the candles, not under return, is still appeasable by unit price
    response = await grant(api, order_id, {
        "reason": "ARTICLE_DEFECTIVE",
        "lines": [{"line_id": "L2", "unit_amount": "5.00", "quantity": 2}],
    })
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "10.00"


async def test_an_unknown_order_is_not_found(api):
    response = await grant(api, unique("NOWHERE"), {"reason": "OTHER",
                                                    "amounts": {"product": "1.00"}})
    assert response.status_code == 404
    assert response.json()["code"] == "ORDER_NOT_FOUND"


async def test_a_body_with_two_shapes_is_malformed(api, publish):
    order_id = unique("SHAPES")
    await given_order(api, publish, order_id, TABLE_ORDER)
    response = await grant(api, order_id, {"reason": "OTHER", "percent": "10",
                                           "amounts": {"product": "1.00"}})
    assert response.status_code == 422
    assert response.json()["code"] == "MALFORMED_REQUEST"


async def test_a_grant_needs_a_caller_and_an_idempotency_key(api, publish):
    order_id = unique("WHO")
    await given_order(api, publish, order_id, TABLE_ORDER)
    body = {"reason": "OTHER", "amounts": {"product": "1.00"}}
    anonymous = await api.post(f"/v1/orders/{order_id}/appeasements", json=body,
                               headers={"Idempotency-Key": unique("K"), "Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "UNAUTHENTICATED"
    keyless = await api.post(f"/v1/orders/{order_id}/appeasements", json=body, headers=MANAGER)
    assert keyless.status_code == 422
    assert keyless.json()["code"] == "MALFORMED_REQUEST"
    assert any(error["field"] == "header.idempotency-key" for error in keyless.json()["errors"])

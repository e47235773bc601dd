"""Appeasements over HTTP on the real broker and database: the seed examples and the rules."""

from __future__ import annotations

import pytest

from tests.builders import line, unique
from tests.conftest import balance_when, line_of
from tests.integration.appeasing import (
    AGENT,
    TABLE_ORDER,
    allocation,
    given_order,
    grant,
    preview,
    published,
)

pytestmark = pytest.mark.integration


async def test_a_late_parcel_gets_its_shipping_back(api, publish, infra):
    # given a paid EU order with 5.90 shipping
    order_id = unique("LATE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when an agent grants the shipping for a parcel 4 days late
    response = await grant(
        api, order_id, {"reason": "DELIVERY_DELAYED", "comment": "4 days late",
                        "amounts": {"shipping": "5.90"}},
    )
    # then it is accepted, pending release, 5.90 gross with its 21 % VAT inside
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "PENDINGRELEASE"
    assert allocation(body) == [("L3", "shipping", "5.90", "4.88", "1.02")]
    # and the shipping is no longer creditable
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L3")["creditable"]["gross"] == "0.00"
    assert line_of(balance, "L3")["appeased"]["gross"] == "5.90"
    # and the refund event is on the topic, keyed by the order
    event = await published(infra.bootstrap_servers, body["id"])
    assert event["key"] == order_id
    assert event["message"]["params"]["refund"]["refund_type"] == "Appeasement"


async def test_twenty_percent_of_a_scratched_table(api, publish):
    # given a 499.00 table at 21 % VAT
    order_id = unique("TABLE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when 20 % of that line is asked for
    response = await grant(
        api, order_id, {"reason": "ARTICLE_DEFECTIVE", "comment": "scratch on top",
                        "lines": [{"line_id": "L1", "percent": "20"}]},
    )
    # then 99.80 gross is credited: 82.48 net and 17.32 VAT
    assert response.status_code == 201, response.text
    assert allocation(response.json()) == [("L1", "product", "99.80", "82.48", "17.32")]
    assert response.json()["amount"] == "99.80"


async def test_a_price_correction_on_one_line(api, publish):
    # given candles charged above the advertised price
    order_id = unique("PRICE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when the difference, 10.00, is credited on that line
    response = await grant(
        api, order_id, {"reason": "CORRECTION_PRICE", "lines": [{"line_id": "L2", "amount": "10.00"}]},
    )
    # then only that line is credited, with the VAT inside the 10.00
    assert response.status_code == 201, response.text
    assert allocation(response.json()) == [("L2", "product", "10.00", "8.26", "1.74")]


async def test_a_tax_only_credit_on_a_us_net_taxed_order(api, publish):
    # given a US order under net taxation: 8.25 tax on the goods, 0.83 on shipping
    order_id = unique("US")
    await given_order(api, publish, order_id, [
        line("L1", 1, "108.25", "8.25", rate="8.25", currency="USD"),
        line("L2", 2, "10.83", "0.83", rate="8.25", currency="USD", product_type="SHIPPING"),
    ], currency="USD", store="us-web")
    # when 4.54 of tax alone is credited
    response = await grant(api, order_id, {"reason": "CUSTOMER_COMPLAINT",
                                           "amounts": {"tax": "4.54"}})
    # then it is spread over the tax paid by value, the tie going to the first line
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["taxation"] == "net"
    assert allocation(body) == [
        ("L1", "tax", "4.13", "0.00", "4.13"),
        ("L2", "tax", "0.41", "0.00", "0.41"),
    ]


async def test_a_net_amount_gets_its_tax_pro_rata(api, publish):
    # given a US net-taxed order: 100.00 net with 8.25 tax
    order_id = unique("USNET")
    await given_order(api, publish, order_id, [
        line("L1", 1, "108.25", "8.25", rate="8.25", currency="USD"),
    ], currency="USD", store="us-web")
    # when 20.00 of product (net) is credited
    response = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                           "amounts": {"product": "20.00"}})
    # then the tax paid follows pro rata: 1.65 on top of the 20.00
    assert response.status_code == 201, response.text
    assert allocation(response.json()) == [("L1", "product", "21.65", "20.00", "1.65")]


async def test_a_tax_request_on_a_gross_order_is_rejected(api, publish):
    order_id = unique("GROSSTAX")
    await given_order(api, publish, order_id, TABLE_ORDER)
    response = await grant(api, order_id, {"reason": "CUSTOMER_COMPLAINT",
                                           "amounts": {"tax": "1.00"}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "TAX_ONLY_REQUIRES_NET_TAXATION"


async def test_one_hundred_over_three_lines_worth_a_hundred(api, publish):
    # given three lines worth 33.33, 33.33 and 33.34
    order_id = unique("THIRDS")
    await given_order(api, publish, order_id, [
        line("L1", 1, "33.33", "0.00", rate="0"),
        line("L2", 2, "33.33", "0.00", rate="0"),
        line("L3", 3, "33.34", "0.00", rate="0"),
    ])
    # when 100.00 of product is credited at order level
    response = await grant(api, order_id, {"reason": "LOSS_OF_DELIVERY",
                                           "amounts": {"product": "100.00"}})
    # then each line gets exactly its value
    assert [a["gross"] for a in response.json()["allocation"]] == ["33.33", "33.33", "33.34"]


async def test_one_hundred_over_three_equal_lines_gives_the_odd_cent_to_the_first(api, publish):
    order_id = unique("EQUAL")
    await given_order(api, publish, order_id, [
        line("L1", 1, "60.00", "0.00", rate="0"),
        line("L2", 2, "60.00", "0.00", rate="0"),
        line("L3", 3, "60.00", "0.00", rate="0"),
    ])
    response = await grant(api, order_id, {"reason": "LOSS_OF_DELIVERY",
                                           "amounts": {"product": "100.00"}})
    assert [a["gross"] for a in response.json()["allocation"]] == ["33.34", "33.33", "33.33"]


async def test_a_preview_shows_the_allocation_and_stores_nothing(api, publish):
    # given an order
    order_id = unique("PREVIEW")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when 20 % of the order is previewed with shipping
    response = await preview(api, order_id, {"reason": "CUSTOMER_COMPLAINT", "percent": "20",
                                             "include_shipping": True})
    # then the allocation comes back
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["amount"] == "108.96"  # 20 % of 538.90 + 20 % of 5.90
    assert {a["bucket"] for a in body["allocation"]} == {"product", "shipping"}
    # and nothing was reserved or stored
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "0.00"
    history = await api.get(f"/v1/orders/{order_id}/appeasements", headers=AGENT)
    assert history.json()["appeasements"] == []

"""Limits count what is already there, and no split, overage, approval or race gets around them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from schemas.published import REFUND_UPDATED
from tests.builders import line, unique
from tests.integration.appeasing import (
    AGENT,
    LEAD,
    MANAGER,
    TABLE_ORDER,
    given_order,
    grant,
    read_all,
    refund_of,
)

pytestmark = pytest.mark.integration

THOUSAND = [line("L1", 1, "1000.00", "173.55")]


def product(amount: str, reason: str = "ARTICLE_DEFECTIVE") -> dict[str, Any]:
    return {"reason": reason, "amounts": {"product": amount}}


async def test_splitting_does_not_beat_a_reasons_percentage_cap(api, publish):
    # given a 1,000.00 order and CUSTOMER_COMPLAINT capped at 30 % of the order
    order_id = unique("SPLIT")
    await given_order(api, publish, order_id, THOUSAND)
    # when three grants of 150.00 are asked for that reason
    answers = [await grant(api, order_id, product("150.00", "CUSTOMER_COMPLAINT"))
               for _ in range(3)]
    # then the first two pass and the third would make 450.00 > 300.00
    assert [a.status_code for a in answers] == [201, 201, 422]
    problem = answers[2].json()
    assert (problem["code"], problem["limit"], problem["requested"], problem["already"]) == (
        "REASON_LIMIT_EXCEEDED", "300.00", "150.00", "300.00"
    )
    # and another reason is not held back by it
    assert (await grant(api, order_id, product("150.00"))).status_code == 201


async def test_overage_for_a_late_parcel_never_lands_on_products(api, publish):
    # given the scratched-table order and DELIVERY_DELAYED (shipping, handling, overage)
    order_id = unique("OVERAGE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when an overage of 500.00 is asked for the late parcel
    refused = await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                          "amounts": {"overage": "500.00"}})
    # then it is more than the shipping holds
    assert refused.status_code == 422
    assert refused.json()["code"] == "EXCEEDS_TOTAL_CREDITABLE"
    # and an overage that fits lands on shipping alone
    granted = await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                          "amounts": {"overage": "3.00"}})
    assert granted.status_code == 201
    assert {a["bucket"] for a in granted.json()["allocation"]} == {"shipping"}


async def test_concurrent_grants_for_one_customer_keep_the_customer_limit(api, publish):
    # given one customer with six orders, and an agent allowed 500.00 per customer
    customer = unique("CUST")
    orders = [unique("CUSTORD") for _ in range(6)]
    for order_id in orders:
        await given_order(api, publish, order_id, THOUSAND, customer_id=customer)
    # when six agents grants of 100.00 arrive at the same moment
    answers = await asyncio.gather(*(
        grant(api, order_id, product("100.00"), caller=AGENT) for order_id in orders
    ))
    # then five go out and the sixth is held for approval: never 600.00 let out
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert Counter(a.json()["status"] for a in answers) == {
        "PENDINGRELEASE": 5, "PENDINGAPPROVAL": 1,
    }


async def test_an_approval_applies_the_approvers_cumulative_limits(api, publish):
    # given an agent's three held grants of 900.00 on one order
    order_id = unique("APPROVE")
    await given_order(api, publish, order_id, [line("L1", 1, "3000.00", "520.66")])
    held = [(await grant(api, order_id, product("900.00"), caller=AGENT)).json()
            for _ in range(3)]
    assert {h["status"] for h in held} == {"PENDINGAPPROVAL"}
    # when one lead (2,500.00 per order) approves them one after the other
    answers = [await api.post(f"/v1/appeasements/{h['id']}/approve", json={}, headers=LEAD)
               for h in held]
    # then the third would let 2,700.00 out and is refused with the lead's limit
    assert [a.status_code for a in answers] == [200, 200, 422]
    assert answers[2].json()["code"] == "ROLE_LIMIT_EXCEEDED"
    assert answers[2].json()["which"] == "max_per_order"
    assert answers[2].json()["already"] == "1800.00"
    # and a manager, without a per-order limit, may approve it
    approved = await api.post(f"/v1/appeasements/{held[2]['id']}/approve", json={},
                              headers=MANAGER)
    assert approved.status_code == 200


async def test_approvals_racing_grants_keep_every_limit_and_publish_each_grant_once(
    api, publish, infra
):
    # given four held agent grants of 400.00 on a 5,000.00 order
    order_id = unique("RACE")
    await given_order(api, publish, order_id, [line("L1", 1, "5000.00", "867.77")])
    held = [(await grant(api, order_id, product("400.00"), caller=AGENT)).json()
            for _ in range(4)]
    # when a lead approves all of them while the lead also grants 500.00 four times
    approvals = [api.post(f"/v1/appeasements/{h['id']}/approve", json={}, headers=LEAD)
                 for h in held]
    grants = [grant(api, order_id, product("500.00"), caller=LEAD) for _ in range(4)]
    answers = await asyncio.wait_for(asyncio.gather(*approvals, *grants), timeout=30)
    # then nothing deadlocked, and what went out stays within the lead's 2,500.00 per order
    assert all(a.status_code in (200, 201, 422) for a in answers), [a.text for a in answers]
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    out = [a for a in history["appeasements"] if a["status"] == "PENDINGRELEASE"]
    assert sum(float(a["amount"]) for a in out) <= 2500.00
    assert len(out) == sum(1 for a in answers if a.status_code in (200, 201))
    # and each appeasement that went out is published exactly once in that status
    ids = {a["id"] for a in out}

    def released(record: Any) -> bool:
        refund = refund_of(record)
        return (refund.get("credit_note_number") in ids
                and refund.get("status", {}).get("code") == "PENDINGRELEASE")

    records = await read_all(infra.bootstrap_servers, REFUND_UPDATED, released)
    assert Counter(refund_of(r)["credit_note_number"] for r in records) == dict.fromkeys(ids, 1)
    ids_on_wire = [json.loads(r.value)["id"] for r in records]
    assert len(ids_on_wire) == len(set(ids_on_wire))

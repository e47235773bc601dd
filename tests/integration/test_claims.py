"""Claims: several per order, OPEN or CLOSED, never reopened, listing their appeasements."""

from __future__ import annotations

import pytest

from tests.builders import unique
from tests.integration.appeasing import AGENT, MANAGER, TABLE_ORDER, given_order, grant

pytestmark = pytest.mark.integration


async def open_claim(api, order_id: str, **body):
    return await api.post(f"/v1/orders/{order_id}/claims",
                          json={"reason": "ARTICLE_DEFECTIVE", **body}, headers=AGENT)


async def test_claims_open_link_appeasements_and_close_for_good(api, publish):
    # given an order with two claims, one on the table only and one on every line
    order_id = unique("CLAIM")
    await given_order(api, publish, order_id, TABLE_ORDER)
    table = await open_claim(api, order_id, line_ids=["L1"], comment="scratch")
    everything = await open_claim(api, order_id)
    assert table.status_code == 201, table.text
    assert table.json()["status"] == "OPEN" and table.json()["line_ids"] == ["L1"]
    assert everything.json()["line_ids"] == ["L1", "L2", "L3"]
    claim_id = table.json()["id"]
    # when an appeasement names the table's claim
    granted = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE", "claim_id": claim_id,
                                          "lines": [{"line_id": "L1", "amount": "50.00"}]})
    assert granted.status_code == 201, granted.text
    assert granted.json()["claim_id"] == claim_id
    # then the claim lists it with its status
    claims = (await api.get(f"/v1/orders/{order_id}/claims", headers=AGENT)).json()
    assert [c["id"] for c in claims] == [claim_id, everything.json()["id"]]
    assert claims[0]["appeasements"] == [
        {"id": granted.json()["id"], "status": "PENDINGRELEASE", "amount": "50.00",
         "currency": "EUR"}
    ]
    assert claims[1]["appeasements"] == []
    # when the claim is closed
    closed = await api.post(f"/v1/claims/{claim_id}/close", json={"comment": "settled"},
                            headers=MANAGER)
    assert closed.status_code == 200
    assert closed.json()["status"] == "CLOSED" and closed.json()["closed_by"] == "manager-1"
    # then it cannot be closed again (never reopened) nor take a new appeasement
    again = await api.post(f"/v1/claims/{claim_id}/close", headers=MANAGER)
    assert again.status_code == 422 and again.json()["code"] == "CLAIM_CLOSED"
    late = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE", "claim_id": claim_id,
                                       "lines": [{"line_id": "L1", "amount": "5.00"}]})
    assert late.status_code == 422 and late.json()["code"] == "CLAIM_CLOSED"
    # and the other claim is still open for appeasements
    other = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                        "claim_id": everything.json()["id"],
                                        "lines": [{"line_id": "L2", "amount": "5.00"}]})
    assert other.status_code == 201


async def test_an_appeasement_naming_a_claim_of_another_order_is_refused(api, publish):
    first, second = unique("CLA"), unique("CLB")
    for order_id in (first, second):
        await given_order(api, publish, order_id, TABLE_ORDER)
    claim_id = (await open_claim(api, first)).json()["id"]
    for wrong in (claim_id, "CLM-NOPE"):
        response = await grant(api, second, {"reason": "ARTICLE_DEFECTIVE", "claim_id": wrong,
                                             "amounts": {"product": "1.00"}})
        assert response.status_code == 422
        assert response.json()["code"] == "CLAIM_NOT_FOUND"


async def test_claim_addresses_that_do_not_exist(api, publish):
    order_id = unique("CLNF")
    await given_order(api, publish, order_id, TABLE_ORDER)
    missing = await api.post("/v1/claims/CLM-NOPE/close", headers=MANAGER)
    assert missing.status_code == 404 and missing.json()["code"] == "CLAIM_NOT_FOUND"
    unknown_order = await open_claim(api, unique("NOWHERE"))
    assert unknown_order.status_code == 404
    unknown_line = await open_claim(api, order_id, line_ids=["L9"])
    assert unknown_line.status_code == 422 and unknown_line.json()["code"] == "UNKNOWN_LINE"
    unknown_reason = await api.post(f"/v1/orders/{order_id}/claims", json={"reason": "BORED"},
                                    headers=AGENT)
    assert unknown_reason.status_code == 422 and unknown_reason.json()["code"] == "UNKNOWN_REASON"

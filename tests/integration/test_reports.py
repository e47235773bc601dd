"""KPI reports: the sums, refusals and approvals of the grants a test makes itself."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from decimal import Decimal

import jwt
import pytest

from tests.builders import unique
from tests.conftest import JWT_SECRET, bearer
from tests.integration.appeasing import LEAD, TABLE_ORDER, given_order, grant

pytestmark = pytest.mark.integration


def agent_named(user: str) -> dict[str, str]:
    """A JWT for an agent of its own: the report's group for that user is this test's alone."""
    claims = {"sub": user, "role": "agent", "aud": "appeasement", "exp": int(time.time()) + 600}
    return bearer(jwt.encode(claims, JWT_SECRET, algorithm="HS256"))


async def test_a_report_by_user_adds_up_the_grants_refusals_and_approvals(api, publish):
    # given an agent who grants twice, is refused once, and has one held grant approved
    user = unique("report-agent").lower()
    agent = agent_named(user)
    first, second = unique("REP"), unique("REP")
    for order_id in (first, second):
        await given_order(api, publish, order_id, TABLE_ORDER)
    table = await grant(api, first, {"reason": "ARTICLE_DEFECTIVE",
                                     "lines": [{"line_id": "L1", "percent": "20"}]}, caller=agent)
    shipping = await grant(api, first, {"reason": "DELIVERY_DELAYED",
                                        "amounts": {"shipping": "5.90"}}, caller=agent)
    refused = await grant(api, first, {"reason": "DELIVERY_DELAYED",
                                       "amounts": {"shipping": "1.00"}}, caller=agent)
    held = await grant(api, second, {"reason": "ARTICLE_DEFECTIVE",
                                     "amounts": {"product": "150.00"}}, caller=agent)
    assert [r.status_code for r in (table, shipping, refused, held)] == [201, 201, 422, 201]
    approved = await api.post(f"/v1/appeasements/{held.json()['id']}/approve",
                              json={"comment": "ok"}, headers=LEAD)
    assert approved.status_code == 200, approved.text
    granted = [table.json(), shipping.json(), held.json()]
    today = datetime.now(UTC).date().isoformat()
    # when the report by user is asked for today, in euros
    response = await api.get("/v1/reports/appeasements", params={
        "from": today, "to": today, "group_by": "user", "currency": "EUR"})
    # then the agent's row adds up exactly what was granted
    assert response.status_code == 200, response.text
    report = response.json()
    row = next(group for group in report["groups"] if group["key"] == user)
    for figure in ("gross", "net", "tax"):
        assert Decimal(row[figure]) == sum(Decimal(g["totals"][figure]) for g in granted)
    assert row["gross"] == "255.70"
    assert row["count"] == 3 and row["currency"] == "EUR"
    assert row["by_status"] == {"PENDINGRELEASE": 3}
    # and the refusal by its code, and the approval with its rate and time
    assert row["refused"] == 1
    assert row["refusals_by_code"] == {"EXCEEDS_CREDITABLE_BALANCE": 1}
    assert (row["held"], row["approved"], row["declined"]) == (1, 1, 0)
    assert row["approval_rate"] == "100.0"
    assert row["average_seconds_to_approve"] >= 0
    # and the totals include the agent's figures
    total = next(t for t in report["totals"] if t["currency"] == "EUR")
    assert Decimal(total["gross"]) >= Decimal(row["gross"])
    assert report["refusals_by_code"]["EXCEEDS_CREDITABLE_BALANCE"] >= 1


async def test_a_report_by_reason_as_csv(api, publish):
    user = unique("csv-agent").lower()
    order_id = unique("REPCSV")
    await given_order(api, publish, order_id, TABLE_ORDER)
    assert (await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                        "amounts": {"shipping": "5.90"}},
                        caller=agent_named(user))).status_code == 201
    response = await api.get("/v1/reports/appeasements", params={"group_by": "reason"},
                             headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    delayed = next(r for r in rows if r["group"] == "DELIVERY_DELAYED" and r["currency"] == "EUR")
    assert Decimal(delayed["gross"]) >= Decimal("5.90")
    assert rows[-1]["group"] == "total"


async def test_report_parameters_that_do_not_fit(api):
    backwards = await api.get("/v1/reports/appeasements",
                              params={"from": "2026-11-20", "to": "2026-11-01"})
    assert backwards.status_code == 422 and backwards.json()["code"] == "MALFORMED_REQUEST"
    grouping = await api.get("/v1/reports/appeasements", params={"group_by": "planet"})
    assert grouping.status_code == 422 and grouping.json()["code"] == "MALFORMED_REQUEST"
    currency = await api.get("/v1/reports/appeasements", params={"currency": "XXY"})
    assert currency.status_code == 422 and currency.json()["code"] == "MALFORMED_REQUEST"

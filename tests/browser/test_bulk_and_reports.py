"""Bulk appeasements and KPI reports in the browser."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.async_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.builders import unique
from tests.integration.appeasing import AGENT, TABLE_ORDER, given_order, grant

pytestmark = pytest.mark.integration


async def test_a_bulk_over_three_orders_with_one_refused_runs_to_done(page, api, publish):
    # given three orders, the shipping of one already given back
    orders = [unique("WEBBULK") for _ in range(3)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER)
    assert (await grant(api, orders[2], {"reason": "DELIVERY_DELAYED",
                                         "amounts": {"shipping": "5.90"}})).status_code == 201
    await sign_in(page, "agent")
    # when the agent prepares a bulk appeasement of the shipping over the three
    await page.get_by_role("link", name="Bulk").click()
    await page.get_by_label("Name", exact=True).fill("Late carrier, 20 Nov")
    await page.get_by_label("Reason", exact=True).select_option("DELIVERY_DELAYED")
    await page.get_by_label("Shipping", exact=True).fill("5.90")
    await page.get_by_label("Order ids", exact=True).fill("\n".join(orders))
    await page.get_by_role("button", name="Dry run").click()
    # then the dry run says two would be granted and one refused, and nothing is granted yet
    await expect(page.get_by_test_id("dry-run")).to_contain_text(
        "2 would be granted, 0 held for approval, 1 refused (1 EXCEEDS_CREDITABLE_BALANCE")
    await expect(page.get_by_test_id("dry-run")).to_contain_text("11.80 EUR")
    await expect(page.get_by_test_id("bulk-status")).to_contain_text("DRAFT")
    # when it is run
    await page.get_by_role("button", name="Run").click()
    # then it runs to done: two granted, one refused by its rule
    await expect(page.get_by_test_id("bulk-status")).to_contain_text("DONE")
    await expect(page.get_by_test_id("progress")).to_contain_text(
        "3 of 3 done: 2 granted, 0 held, 1 refused (1 EXCEEDS_CREDITABLE_BALANCE")
    items = page.get_by_test_id("items")
    await expect(items.locator("tr[data-status=GRANTED]")).to_have_count(2)
    await expect(items.locator(f"tr[data-order='{orders[2]}']")).to_contain_text(
        "EXCEEDS_CREDITABLE_BALANCE")
    await screenshot(page, "bulk-report")
    # and the results download as CSV
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download results (CSV)").click()
    text = (await (await downloading.value).path()).read_text()
    assert text.count("GRANTED") == 2 and text.count("REFUSED") == 2  # status and dry run


async def test_a_report_by_reason_shows_the_totals(page, api, publish):
    # given two grants for a reason nothing else in the tests gives
    order_id = unique("WEBREP")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = []
    for amount in ("10.00", "5.50"):
        response = await grant(api, order_id, {"reason": "CONTRADICTION_OF_SIGNATURE",
                                               "amounts": {"product": amount}}, caller=AGENT)
        assert response.status_code == 201, response.text
        granted.append(response.json())
    await sign_in(page, "agent")
    # when the report by reason is shown
    await page.get_by_role("link", name="Reports").click()
    await page.get_by_label("Group by").select_option("reason")
    await page.get_by_role("button", name="Show").click()
    # then the reason's row adds up the two grants, and the chart has a bar for it
    row = page.get_by_test_id("figures").locator("tr[data-group=CONTRADICTION_OF_SIGNATURE]")
    for figure in ("gross", "net", "tax"):
        total = sum(Decimal(g["totals"][figure]) for g in granted)
        await expect(row.locator(f"[data-figure={figure}]")).to_have_text(str(total))
    await expect(row.locator("td").nth(1)).to_have_text("2")  # count
    chart = page.locator("svg.chart")
    await expect(chart).to_have_attribute(
        "aria-label", re.compile(re.escape("CONTRADICTION_OF_SIGNATURE: 15.50 EUR")))
    await expect(chart.locator("rect")).not_to_have_count(0)
    await screenshot(page, "reports")

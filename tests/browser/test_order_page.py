"""A CS agent's order page in the browser: look up, shipments, calculate, grant once, history,
claims."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import open_order, screenshot, sign_in
from tests.builders import unique
from tests.conftest import eventually
from tests.integration.appeasing import LEAD_AS_AGENT, TABLE_ORDER, given_order, grant
from tests.integration.bulk import given_shipment

pytestmark = pytest.mark.integration


async def appeasements_of(api, order_id: str) -> list[dict]:
    return (await api.get(f"/v1/orders/{order_id}/appeasements")).json()["appeasements"]


async def twenty_percent_of_the_table(page: Page) -> None:
    await page.get_by_label("Reason", exact=True).select_option("ARTICLE_DEFECTIVE")
    await page.get_by_label("Per line").check()
    await page.get_by_label("Percent, line 1").fill("20")


async def test_an_agent_calculates_twenty_percent_of_the_table_and_grants_it(page, api, publish):
    # given a seeded order: a 499.00 table at 21 % VAT, candles and shipping
    order_id = unique("WEB")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    # when the agent looks the order up
    await page.get_by_label("Order id").fill(order_id)
    await page.get_by_label("Order id").press("Enter")
    # then its lines show what is paid and creditable, with the tax
    table_line = page.get_by_test_id("lines").locator("tr[data-line=L1]")
    await expect(table_line.locator("[data-figure=paid]")).to_contain_text("499.00")
    await expect(table_line.locator("[data-figure=creditable]")).to_contain_text("tax 86.60")
    # and the tax field is offered only under net taxation
    await expect(page.get_by_label("Shipping", exact=True)).to_be_visible()
    await expect(page.get_by_label("Tax", exact=True)).to_have_count(0)
    # when 20 % of the table is calculated
    await twenty_percent_of_the_table(page)
    await page.get_by_role("button", name="Calculate").click()
    # then the split and the totals come from the API: 99.80 gross, 82.48 net, 17.32 tax
    totals = page.get_by_test_id("totals")
    await expect(totals.locator("[data-total=net]")).to_have_text("82.48 EUR")
    await expect(totals.locator("[data-total=tax]")).to_have_text("17.32 EUR")
    await expect(totals.locator("[data-total=gross]")).to_have_text("99.80 EUR")
    await expect(page.get_by_test_id("would-be")).to_contain_text("PENDINGRELEASE")
    assert await appeasements_of(api, order_id) == []
    # when it is granted
    await page.get_by_role("button", name="Grant").click()
    # then the history shows it pending release, with who, why and when
    granted = page.get_by_test_id("history").locator("article[data-status=PENDINGRELEASE]")
    await expect(granted).to_have_count(1)
    await expect(granted).to_contain_text("99.80 EUR")
    await expect(granted).to_contain_text("agent-42 (agent)")
    await expect(granted).to_contain_text("ARTICLE_DEFECTIVE")
    await expect(table_line.locator("[data-figure=appeased]")).to_contain_text("99.80")
    await screenshot(page, "order-page")
    assert [a["amount"] for a in await appeasements_of(api, order_id)] == ["99.80"]


async def test_a_double_click_on_grant_grants_once(page, api, publish):
    order_id = unique("DBL")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    await open_order(page, order_id)
    await twenty_percent_of_the_table(page)
    await page.get_by_role("button", name="Grant").dblclick()
    history = page.get_by_test_id("history").locator("article")
    await expect(history).to_have_count(1)
    assert len(await appeasements_of(api, order_id)) == 1


async def test_a_refusal_is_shown_next_to_its_field_in_plain_words(page, api, publish):
    # given an order whose shipping is 5.90
    order_id = unique("REFUSE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    await open_order(page, order_id)
    # when 9.90 of shipping is asked for
    await page.get_by_label("Reason", exact=True).select_option("DELIVERY_DELAYED")
    await page.get_by_label("Shipping", exact=True).fill("9.90")
    await page.get_by_role("button", name="Grant").click()
    # then the shipping field says what is wrong, with the rule's code and what is left
    shipping = page.locator("[data-field=shipping]")
    await expect(shipping.locator(".field-error")).to_contain_text(
        "More than what is still creditable here. Still creditable: 5.90.")
    await expect(shipping.locator(".field-error")).to_contain_text("EXCEEDS_CREDITABLE_BALANCE")
    await expect(page.get_by_label("Shipping", exact=True)).to_be_focused()
    # and the refusal is in the history, with nothing granted
    await page.reload()
    await expect(page.get_by_test_id("refusals")).to_contain_text("EXCEEDS_CREDITABLE_BALANCE")
    assert await appeasements_of(api, order_id) == []


async def test_an_agent_over_the_limit_is_held_and_a_lead_approves_it_in_the_queue(
    page, api, publish
):
    # given an agent asking for 150.00 of product, above the agent's 100.00
    order_id = unique("QUEUE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    await open_order(page, order_id)
    await page.get_by_label("Reason", exact=True).select_option("ARTICLE_DEFECTIVE")
    await page.get_by_label("Product", exact=True).fill("150.00")
    await page.get_by_role("button", name="Calculate").click()
    await expect(page.get_by_test_id("would-be")).to_contain_text("PENDINGAPPROVAL")
    await page.get_by_role("button", name="Grant").click()
    held = page.get_by_test_id("history").locator("article[data-status=PENDINGAPPROVAL]")
    await expect(held).to_have_count(1)
    appeasement_id = await held.get_attribute("data-appeasement")
    # and the agent has no approvals queue
    await expect(page.get_by_role("link", name="Approvals")).to_be_hidden()
    # when a lead signs in and opens the queue
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, "lead")
    await page.get_by_role("link", name="Approvals").click()
    row = page.locator(f"tr[data-appeasement='{appeasement_id}']")
    await expect(row).to_contain_text("agent-42 (agent)")
    await expect(row).to_contain_text("150.00 EUR")
    await expect(row.get_by_role("link", name=order_id)).to_be_visible()
    await screenshot(page, "approvals-queue")
    # and approves it with a comment
    await row.get_by_label(f"Comment on {appeasement_id}").fill("photos checked")
    await row.get_by_role("button", name=f"Approve {appeasement_id}").click()
    # then it is on its way, and the order's history says who approved it and why
    await expect(row).to_contain_text("approved")
    await row.get_by_role("link", name=order_id).click()
    approved = page.locator(f"article[data-appeasement='{appeasement_id}']")
    await expect(approved).to_have_attribute("data-status", "PENDINGRELEASE")
    await expect(approved).to_contain_text("lead-7")
    await expect(approved).to_contain_text("photos checked")


async def test_a_claim_is_opened_on_some_lines_linked_and_closed_for_good(page, api, publish):
    order_id = unique("WEBCLAIM")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    await open_order(page, order_id)
    # when a claim is opened on the table and the candles, not the shipping
    await page.get_by_label("Claim reason").select_option("ARTICLE_DEFECTIVE")
    await page.get_by_label("3 · Item L3").uncheck()
    await page.get_by_label("Claim comment").fill("scratches on delivery")
    await page.get_by_role("button", name="Open claim").click()
    claim = page.get_by_test_id("claims").locator("article[data-status=OPEN]")
    await expect(claim).to_contain_text("L1, L2")
    claim_id = await claim.get_attribute("data-claim")
    # and an appeasement names it
    await page.get_by_label("Reason", exact=True).select_option("ARTICLE_DEFECTIVE")
    await page.get_by_label("Product", exact=True).fill("20.00")
    await page.get_by_label("Claim", exact=True).select_option(claim_id)
    await page.get_by_role("button", name="Grant").click()
    await expect(page.get_by_test_id("history").locator("article")).to_contain_text(claim_id)
    # when it is closed for good
    await page.get_by_label(f"Closing comment for {claim_id}").fill("settled")
    await page.get_by_role("button", name=f"Close {claim_id} for good").click()
    # then it is closed, lists its appeasement, and cannot be closed again
    closed = page.locator(f"article[data-claim='{claim_id}']")
    await expect(closed).to_have_attribute("data-status", "CLOSED")
    await expect(closed).to_contain_text("20.00 EUR PENDINGRELEASE")
    await expect(closed.get_by_role("button")).to_have_count(0)


async def test_the_other_seed_examples_from_the_browser(page, api, publish):
    # given the scratched-table order
    order_id = unique("SEEDS")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    await open_order(page, order_id)
    history = page.get_by_test_id("history").locator("article")
    # when the candles' price is corrected by 10.00 on their line
    await page.get_by_label("Reason", exact=True).select_option("CORRECTION_PRICE")
    await expect(page.get_by_test_id("reason-buckets")).to_have_text(
        "This reason may credit: overage, product, tax.")
    await page.get_by_label("Per line").check()
    await page.get_by_label("Amount, line 2").fill("10.00")
    await page.get_by_role("button", name="Calculate").click()
    await expect(page.get_by_test_id("totals")).to_contain_text("8.26 EUR")
    await page.get_by_role("button", name="Grant").click()
    await expect(history).to_have_count(1)
    # and part of the shipping is given back for an express parcel that came late
    await page.get_by_label("Reason", exact=True).select_option("REFUND_EXPRESS_COSTS")
    await page.get_by_label("Shipping", exact=True).fill("2.00")
    await page.get_by_role("button", name="Grant").click()
    await expect(history).to_have_count(2)
    # and the rest of the shipping for a parcel 4 days late
    await page.get_by_label("Reason", exact=True).select_option("DELIVERY_DELAYED")
    await page.get_by_label("Shipping", exact=True).fill("3.90")
    await page.get_by_role("button", name="Grant").click()
    await expect(history).to_have_count(3)
    # then the three are granted as asked, and the shipping is used up
    granted = sorted((a["reason"], a["amount"]) for a in await appeasements_of(api, order_id))
    assert granted == [("CORRECTION_PRICE", "10.00"), ("DELIVERY_DELAYED", "3.90"),
                       ("REFUND_EXPRESS_COSTS", "2.00")]
    shipping = page.get_by_test_id("lines").locator("tr[data-line=L3] [data-figure=creditable]")
    await expect(shipping).to_contain_text("0.00")


async def test_the_queue_shows_the_four_eyes_refusal_of_the_api(page, api, publish):
    # given lead-7, acting as an agent, asked for more than the agent's limit
    order_id = unique("OWN")
    await given_order(api, publish, order_id, TABLE_ORDER)
    held = await grant(api, order_id, {"reason": "ARTICLE_DEFECTIVE",
                                       "amounts": {"product": "150.00"}}, caller=LEAD_AS_AGENT)
    appeasement_id = held.json()["id"]
    # when lead-7 tries to approve it in the queue
    await sign_in(page, "lead")
    await page.get_by_role("link", name="Approvals").click()
    row = page.locator(f"tr[data-appeasement='{appeasement_id}']")
    await row.get_by_role("button", name=f"Approve {appeasement_id}").click()
    # then the API's refusal is shown in the row, and it stays held
    await expect(row.get_by_role("alert")).to_contain_text(
        "You asked for this one: someone else must approve it. (APPROVER_IS_REQUESTER)")
    current = await api.get(f"/v1/appeasements/{appeasement_id}")
    assert current.json()["status"] == "PENDINGAPPROVAL"


async def test_an_agent_sees_when_and_how_the_order_shipped(page, api, publish):
    # given an order the OMS shipped with UPS
    order_id = unique("SHIP")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    await open_order(page, order_id)
    # then, before the shipment is known, the page says so
    shipments = page.get_by_test_id("shipments")
    await expect(shipments).to_contain_text("Nothing shipped yet")
    # when the OMS reports the shipment and the page is loaded again
    await given_shipment(publish, order_id, "UPS", "2026-11-20T16:30:00+01:00")
    await eventually(lambda: shipped(api, order_id))
    await page.reload()
    # then the shipment shows its date in UTC, method, line and carrier
    row = shipments.locator("tr[data-shipment]")
    await expect(row).to_have_count(1)
    for text in ("2026-11-20 15:30:00 UTC", "standard", "L1", "UPS", "TRK-"):
        await expect(row).to_contain_text(text)
    await screenshot(page, "order-shipments")


async def shipped(api, order_id: str) -> bool:
    return bool((await api.get(f"/v1/orders/{order_id}/shipments")).json())

"""Signing in and out, what each role is shown, the keyboard alone, and narrow screens."""

from __future__ import annotations

import time

import jwt
import pytest
from playwright.async_api import expect

from tests.browser.conftest import open_order, screenshot, sign_in
from tests.builders import unique
from tests.conftest import JWT_SECRET
from tests.integration.appeasing import TABLE_ORDER, given_order

pytestmark = pytest.mark.integration

#: Every form control on the page that has no accessible name.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((control) => !control.closest('[hidden]'))
  .filter((control) => !(control.labels && control.labels.length)
    && !control.getAttribute('aria-label') && !(control.textContent || '').trim())
  .map((control) => control.outerHTML)"""


async def test_a_bad_token_is_refused_and_signing_out_forgets_the_token(page):
    await page.goto("/backoffice/")
    await page.get_by_label("Bearer token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("This token is not valid.")
    await sign_in(page, "agent")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.length") == 0
    await page.goto("/backoffice/#/orders")
    await expect(page.get_by_label("Bearer token")).to_be_visible()


async def test_a_jwt_signs_in_too(page):
    claims = {"sub": "jwt-lead", "role": "lead", "aud": "appeasement",
              "exp": int(time.time()) + 600}
    await page.goto("/backoffice/")
    await page.get_by_label("Bearer token").fill(jwt.encode(claims, JWT_SECRET, "HS256"))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who-name")).to_have_text("jwt-lead (lead)")
    await expect(page.get_by_role("link", name="Approvals")).to_be_visible()


async def test_an_auditor_reads_but_is_offered_nothing_to_grant(page, api, publish):
    order_id = unique("AUDIT")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "auditor")
    await open_order(page, order_id)
    await expect(page.get_by_test_id("history")).to_be_visible()
    await expect(page.get_by_role("button", name="Grant")).to_have_count(0)
    await expect(page.get_by_role("button", name="Open claim")).to_have_count(0)
    await expect(page.get_by_role("link", name="Approvals")).to_be_hidden()
    await expect(page.get_by_role("link", name="Bulk")).to_be_hidden()


async def test_the_keyboard_alone_reaches_a_calculation_and_every_field_is_labelled(
    page, api, publish
):
    # given an order, and an agent signed in with the keyboard
    order_id = unique("KEYS")
    await given_order(api, publish, order_id, TABLE_ORDER)
    await sign_in(page, "agent")
    # when the order is looked up, a reason chosen and the shipping typed, all by keys
    await expect(page.get_by_label("Order id")).to_be_focused()  # the page gave it the focus
    await page.keyboard.type(order_id)
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("lines")).to_be_visible()
    await page.get_by_label("Reason", exact=True).focus()
    await page.keyboard.type("Delivery")
    await expect(page.get_by_label("Reason", exact=True)).to_have_value("DELIVERY_DELAYED")
    for _ in ("the shape", "Product", "Shipping"):
        await page.keyboard.press("Tab")
    await expect(page.get_by_label("Shipping", exact=True)).to_be_focused()
    await page.keyboard.type("5.90")
    await page.get_by_role("button", name="Calculate").focus()
    await page.keyboard.press("Enter")
    # then the calculation is shown
    await expect(page.get_by_test_id("totals").locator("[data-total=gross]")).to_have_text(
        "5.90 EUR")
    # and every control of the page has a name a screen reader can say
    assert await page.evaluate(UNLABELLED) == []


@pytest.mark.parametrize("width", [390, 1280])
async def test_the_pages_fit_the_screen(browser, served, api, publish, width):
    order_id = unique("NARROW")
    await given_order(api, publish, order_id, TABLE_ORDER)
    context = await browser.new_context(base_url=served, viewport={"width": width, "height": 844})
    try:
        page = await context.new_page()
        await sign_in(page, "lead")
        for path in (f"#/orders/{order_id}", "#/approvals", "#/bulk", "#/reports"):
            await page.goto(f"/backoffice/{path}")
            await expect(page.locator("h1")).to_be_visible()
            await page.wait_for_load_state("networkidle")
            # wide tables scroll inside their own box; the page itself never scrolls sideways
            assert await page.evaluate("() => document.documentElement.scrollWidth") <= width
            if path.startswith("#/orders"):
                await screenshot(page, f"order-page-{width}px")
    finally:
        await context.close()

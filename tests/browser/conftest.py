"""The back office in Debian's headless Chromium, driven by Playwright, against the real
service (served over HTTP on a free port), database and broker."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

#: Screenshots the tests take, kept as artefacts (git-ignored).
ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
TOKENS = {"agent": "agent-token", "lead": "lead-token", "auditor": "auditor-token"}


def chromium() -> str:
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.fail("Chromium is missing: `sudo apt-get install --no-install-recommends "
                    "chromium` (make test does it as root), or set CHROMIUM_PATH")
    return found


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium(), args=FLAGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, served: str) -> AsyncIterator[Page]:
    """A fresh tab at 1280 px; any script error in the page fails the test."""
    context = await browser.new_context(base_url=served, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert errors == [], f"script errors in the page: {errors}"


async def sign_in(page: Page, role: str) -> None:
    """Sign in as a role's user with the keyboard: type the token, press Enter."""
    await page.goto("/backoffice/")
    await page.get_by_label("Bearer token").fill(TOKENS[role])
    await page.get_by_label("Bearer token").press("Enter")
    await expect(page.locator("#who-name")).to_contain_text(f"({role})")


async def open_order(page: Page, order_id: str) -> None:
    await page.goto(f"/backoffice/#/orders/{order_id}")
    await expect(page.get_by_role("heading", name=f"Order {order_id}")).to_be_visible()
    await expect(page.get_by_test_id("lines")).to_be_visible()


async def screenshot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTEFACTS / f"{name}.png", full_page=True)

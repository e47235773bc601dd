"""The back office is served by the service itself: every asset local, nothing from elsewhere."""

from __future__ import annotations

import re

import pytest

from service.entrypoints.pages import PAGES

pytestmark = pytest.mark.integration


async def test_the_back_office_is_served_under_backoffice(api):
    moved = await api.get("/backoffice")
    assert moved.status_code == 308 and moved.headers["location"] == "/backoffice/"
    index = await api.get("/backoffice/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in index.headers["content-security-policy"]
    for asset in re.findall(r'(?:src|href)="([^"#]+)"', index.text):
        if asset.startswith("data:"):
            continue
        assert (await api.get(f"/backoffice/{asset}")).status_code == 200, asset


def test_no_asset_loads_anything_from_another_site():
    for path in PAGES.iterdir():
        text = path.read_text()
        assert not re.search(r"(?:src|href|url|import)\s*[=(]?\s*[\"']?(?:https?:)?//", text), path
        assert "from \"http" not in text and "from 'http" not in text, path


async def test_an_unknown_page_is_a_problem_not_a_framework_page(api):
    missing = await api.get("/backoffice/nothing.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

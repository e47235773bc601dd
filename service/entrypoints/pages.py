"""The back office: static pages (HTML, CSS, plain JavaScript) served by the service itself
under /backoffice, calling the JSON API with the bearer token the user signs in with."""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

log = structlog.get_logger(__name__)

PAGES = Path(__file__).resolve().parent / "backoffice"
#: Every asset comes from the service itself; nothing from elsewhere runs in the page.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)


@router.get("/backoffice")
async def backoffice() -> RedirectResponse:
    return RedirectResponse("/backoffice/", status_code=308)


class _Pages(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount(app: FastAPI) -> None:
    if not (PAGES / "index.html").exists():  # an install without the pages: the API still serves
        log.warning("the back office pages are not installed", folder=str(PAGES))
    app.mount("/backoffice", _Pages(directory=PAGES, html=True, check_dir=False),
              name="backoffice")

"""HTTP routes: translate requests, call the service layer, render problems."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.specification import get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.api import BalanceOut, ShipmentOut
from service.contracts import asyncapi_document
from service.entrypoints import (
    appeasement_routes,
    bulk_routes,
    claim_routes,
    mcom_routes,
    pages,
    problems,
    report_routes,
)
from service.entrypoints.guards import BodyLimit, LoadGate
from service.entrypoints.observability import RequestObservation
from service.service_layer.queries import order_balance, order_shipments
from service.settings import Settings

router = APIRouter()
operations = APIRouter(include_in_schema=False)


@router.get(
    "/v1/orders/{order_id}/balance",
    response_model=BalanceOut,
    responses=problems.problem_responses(404),
    tags=["balance"],
    summary="Creditable balance per line and bucket, with totals",
)
async def get_balance(
    order_id: appeasement_routes.Id, request: Request, _: appeasement_routes.Reader
) -> BalanceOut:
    return await order_balance(request.app.state.service.database.pool, order_id)


@router.get(
    "/v1/orders/{order_id}/shipments",
    response_model=list[ShipmentOut],
    responses=problems.problem_responses(404),
    tags=["balance"],
    summary="What the OMS shipped: date, method, lines, carriers and tracking numbers",
)
async def get_shipments(
    order_id: appeasement_routes.Id, request: Request, _: appeasement_routes.Reader
) -> list[ShipmentOut]:
    return await order_shipments(request.app.state.service.database.pool, order_id)


@operations.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@operations.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """503 until the service can do all of its work: database, broker, each consumer group
    joined (with its lag per partition)."""
    body = await request.app.state.service.readiness()
    return JSONResponse(body, 200 if body["status"] == "ready" else 503)


@operations.get("/metrics")
async def metrics(request: Request) -> Response:
    await request.app.state.service.observe()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@operations.get("/asyncapi")
async def asyncapi_page(request: Request) -> HTMLResponse:
    document = _asyncapi(request.app)
    return HTMLResponse(get_asyncapi_html(_Rendered(document), try_it_out_path=None))


@operations.get("/asyncapi.json")
async def asyncapi_json(request: Request) -> JSONResponse:
    return JSONResponse(_asyncapi(request.app))


def _asyncapi(app: FastAPI) -> dict[str, Any]:
    return asyncapi_document(app.state.service.broker, app.version)


@dataclass(frozen=True)
class _Rendered:
    document: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.document.get("info", {}).get("title", "AsyncAPI"))

    def to_json(self) -> str:
        return json.dumps(self.document)

    def to_jsonable(self) -> Any:
        return self.document

    def to_yaml(self) -> str:
        return self.to_json()  # JSON is YAML


def install(app: FastAPI, settings: Settings) -> None:
    routers = (
        router, appeasement_routes.router, claim_routes.router, bulk_routes.router,
        report_routes.router, mcom_routes.router_for(settings), pages.router, operations,
    )
    for each in routers:
        app.include_router(each)
    pages.mount(app)
    problems.install(app, routers)
    app.add_middleware(BodyLimit)
    app.add_middleware(LoadGate)
    app.add_middleware(RequestObservation)

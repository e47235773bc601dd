"""HTTP routes: translate requests, call the service layer, render problems."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.specification import get_asyncapi_html
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas.api import BalanceOut, Problem
from service.contracts import asyncapi_document
from service.domain.errors import DomainError
from service.entrypoints import appeasement_routes, claim_routes
from service.service_layer.queries import order_balance

PROBLEM_JSON = "application/problem+json"
STATUS_BY_CODE = {
    "ORDER_NOT_FOUND": 404,
    "APPEASEMENT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "IDEMPOTENCY_KEY_REUSED": 409,
}

router = APIRouter()
operations = APIRouter(include_in_schema=False)


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    if request is not None and problem.instance is None:
        problem.instance = request.url.path
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM_JSON
    )


@router.get(
    "/v1/orders/{order_id}/balance",
    response_model=BalanceOut,
    responses=appeasement_routes.problem_responses(401, 403, 404),
    tags=["balance"],
    summary="Creditable balance per line and bucket, with totals",
)
async def get_balance(
    order_id: str, request: Request, _: appeasement_routes.Reader
) -> BalanceOut:
    return await order_balance(request.app.state.service.database.pool, order_id)


@operations.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@operations.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    service = request.app.state.service
    checks = await asyncio.gather(service.database.ping(), service.broker_ready())
    body = {"database": "ok" if checks[0] else "down", "broker": "ok" if checks[1] else "down"}
    ready = all(checks)
    return JSONResponse({"status": "ready" if ready else "not ready", **body}, 200 if ready else 503)


@operations.get("/metrics")
async def metrics() -> Response:
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


async def on_domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    status = getattr(error, "http_status", None) or STATUS_BY_CODE.get(error.code, 422)
    details = json.loads(json.dumps(error.details, default=str))
    reserved = set(Problem.model_fields)
    details = {f"{key}_value" if key in reserved else key: value for key, value in details.items()}
    response = problem_response(
        Problem.of(status, error.code, error.code.replace("_", " ").capitalize(), error.message,
                   **details),
        request,
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()
    ]
    return problem_response(
        Problem.of(422, "MALFORMED_REQUEST", "Malformed request", "the request is invalid",
                   errors=errors),
        request,
    )


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(appeasement_routes.router)
    app.include_router(claim_routes.router)
    app.include_router(operations)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)

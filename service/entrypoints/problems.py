"""Every error the HTTP API sends is RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from schemas.api import Problem
from service.adapters.db import TRANSIENT_ERRORS
from service.domain.errors import DomainError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
STATUS_BY_CODE = {
    "ORDER_NOT_FOUND": 404,
    "APPEASEMENT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "IDEMPOTENCY_KEY_REUSED": 409,
}
CODE_BY_STATUS = {
    400: "MALFORMED_JSON",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "IDEMPOTENCY_KEY_REUSED",
    422: "A rule or the request's shape",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL_ERROR",
    503: "DATABASE_UNAVAILABLE or OVERLOADED",
}
RETRY_AFTER_SECONDS = 2
ANY_PATH = "/{path:path}"


def problem_responses(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """The problem statuses a route documents: its own, plus what any route may send (401,
    403, 413 PAYLOAD_TOO_LARGE from the body guard in front of every route, 422 for a bad
    parameter, 500, 503 DATABASE_UNAVAILABLE / OVERLOADED) and, with a body, 400
    MALFORMED_JSON."""
    every = {401, 403, 413, 422, 500, 503, *statuses} | ({400} if body else set())
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}},
                 "description": CODE_BY_STATUS.get(status, "Problem"),
                 **({"headers": HEADERS[status]} if status in HEADERS else {})}
        for status in sorted(every)
    }


HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying",
                          "schema": {"type": "integer"}}},
}


def problem_response(
    problem: Problem, request: Request | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    if request is not None and problem.instance is None:
        problem.instance = request.url.path
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status,
        media_type=PROBLEM_JSON, headers=headers,
    )


def problem(status: int, code: str, detail: str, **extra: Any) -> Problem:
    return Problem.of(status, code, code.replace("_", " ").capitalize(), detail, **extra)


async def on_domain_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, DomainError):
        return await on_unexpected(request, error)
    status = getattr(error, "http_status", None) or STATUS_BY_CODE.get(error.code, 422)
    details = json.loads(json.dumps(error.details, default=str))
    reserved = set(Problem.model_fields)
    details = {f"{key}_value" if key in reserved else key: value for key, value in details.items()}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(getattr(error, "retry_after", RETRY_AFTER_SECONDS))}
    return problem_response(problem(status, error.code, error.message, **details), request, headers)


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, RequestValidationError):
        return await on_unexpected(request, error)
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        return problem_response(
            problem(400, "MALFORMED_JSON", "the body is not JSON"), request
        )
    errors = [
        {"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]}
        for item in error.errors()
    ]
    return problem_response(
        problem(422, "MALFORMED_REQUEST", "the request is invalid", errors=errors), request
    )


async def on_http_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, StarletteHTTPException):
        return await on_unexpected(request, error)
    status = error.status_code
    headers = dict(error.headers or {})
    if status == 405:
        methods = allowed_methods(request.app, request.scope)
        if not methods:
            return problem_response(problem(404, "NOT_FOUND", "no such route"), request)
        headers["Allow"] = ", ".join(methods)
    if status == 400:  # FastAPI could not read the body (not UTF-8, not JSON)
        return problem_response(problem(400, "MALFORMED_JSON", "the body is not JSON"), request)
    code = {503: "SERVICE_UNAVAILABLE"}.get(status, CODE_BY_STATUS.get(status, f"HTTP_{status}"))
    detail = error.detail if isinstance(error.detail, str) else code
    return problem_response(problem(status, code, detail), request, headers)


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    """A database outage is a 503 to retry; anything else a 500 that is logged once."""
    if isinstance(error, TRANSIENT_ERRORS):
        log.warning("database unavailable", path=request.url.path, error=repr(error))
        return problem_response(
            problem(503, "DATABASE_UNAVAILABLE", "the database cannot be reached; retry later"),
            request, {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("request failed", path=request.url.path, method=request.method,
              exc_info=error)
    return problem_response(problem(500, "INTERNAL_ERROR", "an unexpected error"), request)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route's).

    The routes are those of the routers `install` was given, plus the app's own.
    """
    methods: set[str] = set()
    for route in (*app.state.route_table, *app.router.routes):
        if getattr(route, "path", None) == ANY_PATH:
            continue
        match, _ = route.matches({**scope, "method": "GET", "type": "http"})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods.update(route_methods)
    if methods:
        methods.add("OPTIONS")
    return sorted(methods)


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    app.state.route_table = tuple(route for router in routers for route in router.routes)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    for transient in TRANSIENT_ERRORS:
        # handled as a response like any other, not re-raised to the server: a database
        # outage keeps the client's connection open
        app.add_exception_handler(transient, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)

    @app.options(ANY_PATH, include_in_schema=False)
    async def options(request: Request) -> Response:
        methods = allowed_methods(app, request.scope)
        if not methods:
            return problem_response(problem(404, "NOT_FOUND", "no such route"), request)
        return Response(status_code=204, headers={"Allow": ", ".join(methods)})

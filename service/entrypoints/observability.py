"""ASGI middleware around every route: a request id in the logs and the answer, and the
request counted and timed by route template, method and status."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.entrypoints.problems import ANY_PATH

REQUEST_ID_HEADER = b"x-request-id"
#: A caller's request id is kept when it is this plain (it lands in logs); else a new one.
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
#: The route label of a request that matched no route (or only the OPTIONS catch-all): one
#: series, whatever the path.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id(scope: Scope) -> str:
    given = dict(scope["headers"]).get(REQUEST_ID_HEADER)
    if given is not None and _PLAIN_ID.fullmatch(given):
        return given.decode()
    return uuid.uuid4().hex


class RequestObservation:
    """Binds `request_id` into every log line of the request (the trace id is added by the
    logging set-up while a span is active), answers it in `X-Request-Id`, and counts the
    request. An error that escapes the routes is counted as the 500 it becomes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("request_id", rid)
        status = 500
        started = time.perf_counter()

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER),
                    (REQUEST_ID_HEADER, rid.encode()),
                ]
            await send(message)

        try:
            with structlog.contextvars.bound_contextvars(request_id=rid):
                await self.app(scope, receive, answer)
        finally:
            route = getattr(scope.get("route"), "path", ANY_PATH)
            route = UNMATCHED if route == ANY_PATH else route
            method = scope["method"] if scope["method"] in METHODS else "other"
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_SECONDS.labels(route, method).observe(time.perf_counter() - started)

"""ASGI guards in front of every route: a bounded body, and load shedding before a grant is
read."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.entrypoints import problems

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a body above `max_bytes` with 413 PAYLOAD_TOO_LARGE: by its Content-Length
    before reading it, or while it streams in without one."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(_problem(scope, self.max_bytes)).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})


def _problem(scope: Scope, limit: int) -> dict[str, Any]:
    return {
        "type": "about:blank", "title": "Payload too large", "status": 413,
        "code": "PAYLOAD_TOO_LARGE", "detail": f"the body is larger than {limit} bytes",
        "instance": scope.get("path"), "limit": limit,
    }


#: The requests load shedding applies to: grants and previews.
SHED_PATHS = re.compile(r"^/v1/orders/[^/]+/appeasements(/preview)?$")


class LoadGate:
    """While the instance is overloaded, a grant or preview is refused (503 OVERLOADED)
    before its body is read, its caller authenticated or its route resolved: a refusal costs
    little when it is needed most. What is let in is counted by the use case itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = SHED_PATHS.match(scope["path"])
            service = getattr(scope["app"].state, "service", None) if match else None
            refused = service.appeasements.overloaded(
                "preview" if match and match.group(1) else "grant"
            ) if service is not None else None
            if refused is not None:
                response = await problems.on_domain_error(Request(scope), refused)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

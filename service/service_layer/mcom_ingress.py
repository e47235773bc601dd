"""MCOM's integration bus over HTTP: one JSON-RPC 2.0 message per delivery, handled by the
very code that handles its topic's records, one message per transaction.

The method selects the handler, as the topic does on Kafka: an OMS event goes to the
Projector (same inbox, same projection), a command to the CommandHandler (same idempotency,
same reply on the results topic). Anything else goes to the CommandHandler too, which
dead-letters it with its reason the way it does an unreadable record (sealed when it may
carry bank details).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas.commands import COMMANDS
from schemas.consumed import CONSUMED
from service.service_layer.answers import Answer
from service.service_layer.commands import CommandHandler
from service.service_layer.dead_letters import InboundRecord
from service.service_layer.ingest import Projector

TRANSPORT = "http"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The answer, and what the response needs of the request: its id, as sent, and whether
    it was a notification (a request without an id, which gets no response)."""

    request_id: str | int | None
    notification: bool
    answer: Answer


class McomIngress:
    def __init__(self, projector: Projector, commands: CommandHandler, *, source: str) -> None:
        self.projector = projector
        self.commands = commands
        self._source = source

    async def deliver(self, body: bytes) -> Delivery:
        """Handle one delivery. A database outage is raised with nothing written: the bus
        delivers again."""
        document = _peek(body)
        method = _method(document)
        known = method in CONSUMED or method in COMMANDS
        record = InboundRecord(
            topic=method if known and method is not None else self._source,
            partition=None, offset=None, key=None, value=body, transport=TRANSPORT,
            digest=hashlib.sha256(body).hexdigest(),
        )
        if method in CONSUMED:
            [answer] = await self.projector.handle([record], retry_outages=False)
        else:
            answer = await self.commands.handle(record, retry_outages=False)
        return Delivery(_request_id(document), _notification(document), answer)


def _peek(body: bytes) -> Any:
    """The body as JSON, or None; the handlers read it again and say what is wrong."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None


def _method(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    method = document.get("type") if "specversion" in document else document.get("method")
    return method if isinstance(method, str) else None


def _request_id(document: Any) -> str | int | None:
    """The id as the request sent it (a string or an integer), else null."""
    if not isinstance(document, dict):
        return None
    request_id = document.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    return request_id


def _notification(document: Any) -> bool:
    """A well-formed JSON-RPC 2.0 request without an `id` member."""
    return (
        isinstance(document, dict) and "id" not in document
        and document.get("jsonrpc") == "2.0" and isinstance(document.get("method"), str)
        and isinstance(document.get("params", {}), dict | list)
    )

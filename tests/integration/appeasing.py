"""Helpers for appeasement tests: orders on the bus, grants over HTTP, events off the topic."""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from typing import Any

import httpx

from schemas import consumed as wire
from schemas.published import REFUND_UPDATED
from service.service_layer import ids
from tests.builders import line, order
from tests.conftest import Publish, balance_when, bearer, read_topic, records_of

#: The scratched-table order: an oak table, two candles and 5.90 shipping, all captured, 21 % VAT.
TABLE_ORDER = [
    line("L1", 1, "499.00", "86.60"),
    line("L2", 2, "39.90", "6.92", quantity=2),
    line("L3", 3, "5.90", "1.02", product_type="SHIPPING"),
]

AGENT = bearer("agent-token")
LEAD = bearer("lead-token")
LEAD_2 = bearer("lead2-token")
MANAGER = bearer("manager-token")
INTERN = bearer("intern-token")
LEAD_AS_AGENT = bearer("lead-as-agent-token")


async def given_order(
    api: httpx.AsyncClient, publish: Publish, order_id: str, lines: list[dict[str, Any]],
    **options: Any,
) -> dict[str, Any]:
    """Publish the order on the bus and wait until its balance is served."""
    await publish(wire.ORDER_CREATED, {"order": order(order_id, lines, **options)}, key=order_id)
    return await balance_when(api, order_id)


async def grant(
    api: httpx.AsyncClient, order_id: str, body: dict[str, Any], *,
    key: str | None = None, caller: dict[str, str] = MANAGER,
) -> httpx.Response:
    headers = {**caller, "Idempotency-Key": key or ids.message_id()}
    return await api.post(f"/v1/orders/{order_id}/appeasements", json=body, headers=headers)


async def preview(
    api: httpx.AsyncClient, order_id: str, body: dict[str, Any], *,
    caller: dict[str, str] = MANAGER,
) -> httpx.Response:
    return await api.post(
        f"/v1/orders/{order_id}/appeasements/preview", json=body, headers=caller
    )


def allocation(body: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(line, bucket, gross, net, tax) of each allocated piece."""
    return [(a["order_line"], a["bucket"], a["gross"], a["net"], a["tax"])
            for a in body["allocation"]]


async def published(
    bootstrap: str, appeasement_id: str, status: str = "PENDINGRELEASE", timeout: float = 15.0
) -> dict[str, Any]:
    """The refund event published for that appeasement in that status."""

    def match(record: Any) -> bool:
        refund = json.loads(record.value).get("params", {}).get("refund", {})
        return (
            refund.get("credit_note_number") == appeasement_id
            and refund.get("status", {}).get("code") == status
        )

    record = await read_topic(bootstrap, REFUND_UPDATED, match, timeout)
    return {"key": record.key.decode(), "message": json.loads(record.value)}


async def read_all(
    bootstrap: str, topic: str, match: Any, settle: float = 1.5, timeout: float = 20.0
) -> list[Any]:
    """Every record of `topic` that `match` accepts, once no new one came for `settle` s."""
    found: list[Any] = []
    quiet_since = time.monotonic()
    async with aclosing(records_of(bootstrap, topic, timeout)) as batches:
        async for batch in batches:
            if batch:
                quiet_since = time.monotonic()
            found.extend(record for record in batch if match(record))
            if time.monotonic() - quiet_since >= settle:
                break
    return found


def refund_of(record: Any) -> dict[str, Any]:
    return json.loads(record.value).get("params", {}).get("refund", {})

"""Helpers for bulk appeasement tests: shipments on the bus, bulks over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from schemas import consumed as wire
from tests.builders import unique
from tests.conftest import Publish, eventually
from tests.integration.appeasing import AGENT


def shipment(order_id: str, carrier: str, shipped_at: str) -> dict[str, Any]:
    return {"shipment": {
        "order_id": order_id, "shipment_date": shipped_at, "method": "standard",
        "items": [{"order_line_id": "L1", "order_line_number": 1, "status": "SHIPPED"}],
        "packages": [{"carrier": carrier, "tracking_number": unique("TRK")}],
    }}


async def given_shipment(publish: Publish, order_id: str, carrier: str, shipped_at: str) -> None:
    await publish(wire.SHIPMENT_DONE, shipment(order_id, carrier, shipped_at), key=order_id)


async def create_bulk(
    api: httpx.AsyncClient, selection: dict[str, Any], request: dict[str, Any], *,
    reason: str = "DELIVERY_DELAYED", caller: dict[str, str] = AGENT,
) -> httpx.Response:
    return await api.post("/v1/bulk-appeasements", headers=caller, json={
        "name": unique("Late carrier"), "reason": reason, "comment": "parcels late",
        "request": request, "selection": selection,
    })


async def finished(api: httpx.AsyncClient, bulk_id: str) -> dict[str, Any]:
    """The bulk once its runner has nothing left to do."""

    async def probe() -> dict[str, Any] | None:
        body = (await api.get(f"/v1/bulk-appeasements/{bulk_id}")).json()
        return body if body["status"] in ("DONE", "CANCELLED") else None

    return await eventually(probe, timeout=30)


async def appeasements_of(api: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    return (await api.get(f"/v1/orders/{order_id}/appeasements")).json()["appeasements"]

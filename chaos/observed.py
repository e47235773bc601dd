"""What the verifier reads: the topics from the beginning and the HTTP API. Never the database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from chaos.bus import parsed, read_all
from chaos.parts import TOKENS
from schemas.commands import COMMAND_RESULTS
from schemas.published import REFUND_UPDATED
from service.settings import Settings

SETTINGS = Settings()


@dataclass(frozen=True)
class Event:
    """One `refund_management.updated` record of an appeasement, where it sits on the topic."""

    partition: int
    offset: int
    message_id: str
    credit_note: str
    status: str
    command_id: str | None
    order_id: str
    key: str
    allocation: tuple[tuple[str, Decimal], ...]


@dataclass
class Observed:
    events: list[Event] = field(default_factory=list)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dead: list[dict[str, Any]] = field(default_factory=list)
    alerts: int = 0
    visible: dict[str, int] = field(default_factory=dict)  # appeasement id -> GET status
    balances: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # order -> appeasements
    balances_moved: int = 0


async def observe(bootstrap: str, url: str, order_ids: list[str], http_ids: Iterable[str],
                  rpc_keys: set[str]) -> Observed:
    """The topics from the beginning, then over HTTP every appeasement the run was told of
    (HTTP answers and the replies to its commands), every order's balance and history."""
    seen = Observed()
    records = await read_all(bootstrap, [REFUND_UPDATED, COMMAND_RESULTS,
                                         SETTINGS.dead_letter_topic, SETTINGS.alerts_topic])
    ours = set(order_ids)
    for record in records:
        message = parsed(record) or {}
        if record.topic == SETTINGS.dead_letter_topic:
            headers = {name: (value or b"").decode("utf-8", "replace")
                       for name, value in record.headers}
            seen.dead.append({"key": (record.key or b"").decode("utf-8", "replace"), **headers})
        elif record.topic == COMMAND_RESULTS and "id" in message:
            seen.replies.setdefault(str(message["id"]), []).append(message)
        elif record.topic == SETTINGS.alerts_topic:
            seen.alerts += (message.get("params") or {}).get("order_id") in ours
        elif record.topic == REFUND_UPDATED:
            refund = (message.get("params") or {}).get("refund") or {}
            if (refund.get("refund_type") != "Appeasement"
                    or refund.get("client") != SETTINGS.service_name):
                continue
            appeasement = refund.get("appeasement") or {}
            seen.events.append(Event(
                record.partition, record.offset, str(message.get("id")),
                str(refund.get("credit_note_number")), str((refund.get("status") or {}).get("code")),
                appeasement.get("command_id"), str(refund.get("order_id")),
                (record.key or b"").decode(),
                tuple((piece["order_line"], Decimal(piece["gross"]))
                      for piece in appeasement.get("allocation", [])),
            ))
    async with httpx.AsyncClient(base_url=url, timeout=10.0, headers={
            "Authorization": f"Bearer {TOKENS['manager']}"}) as client:
        gate = asyncio.Semaphore(16)

        async def get(path: str) -> tuple[int, Any]:
            async with gate:
                for _ in range(5):
                    try:
                        response = await client.get(path)
                        if response.status_code < 500:
                            return response.status_code, response.json()
                    except (httpx.HTTPError, ValueError):
                        pass
                    await asyncio.sleep(0.5)
            return 0, None

        told = [((replies[0].get("result") or {}).get("appeasement") or {}).get("id")
                for key, replies in seen.replies.items() if key in rpc_keys]
        ids = sorted({*http_ids, *(i for i in told if i)})
        answers = await asyncio.gather(*(get(f"/v1/appeasements/{i}") for i in ids))
        seen.visible = {i: status for i, (status, _) in zip(ids, answers, strict=True)}
        for _attempt in range(3):  # the API has settled when two reads in a row agree
            first = await _balances(get, order_ids)
            await asyncio.sleep(1.0)
            seen.balances = await _balances(get, order_ids)
            seen.balances_moved = sum(first[o] != seen.balances[o] for o in order_ids)
            if not seen.balances_moved:
                break
        listings = await asyncio.gather(*(get(f"/v1/orders/{o}/appeasements") for o in order_ids))
        seen.listed = {o: (body or {}).get("appeasements", []) if status == 200 else []
                       for o, (status, body) in zip(order_ids, listings, strict=True)}
    return seen


async def _balances(get: Any, order_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    answers = await asyncio.gather(*(get(f"/v1/orders/{o}/balance") for o in order_ids))
    return {o: body if status == 200 else None for o, (status, body) in zip(order_ids, answers, strict=True)}

"""Poison messages: on their own, and amid a burst of snapshots with a kill -9 in between."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from chaos.faults import Stage
from schemas.commands import APPEASEMENT_CREATE, REFUND_RELEASE
from schemas.consumed import CONSUMED
from tests.builders import encode

POISON_TOPICS = [*CONSUMED, APPEASEMENT_CREATE, REFUND_RELEASE]


def poison_items(topics: list[str]) -> list[tuple[str, bytes, str, str]]:
    """Per topic: not JSON, not JSON-RPC, an unknown method, one that fails its schema."""
    items = []
    for topic in topics:
        for kind in ("MALFORMED_JSON", "INVALID_ENVELOPE", "UNKNOWN_METHOD", "SCHEMA_VALIDATION"):
            key = f"POISON-{uuid.uuid4().hex[:10]}"
            value = {
                "MALFORMED_JSON": b"{not json " + key.encode(),
                "INVALID_ENVELOPE": json.dumps({"hello": key}).encode(),
                "UNKNOWN_METHOD": json.dumps({"jsonrpc": "2.0", "id": key, "params": {},
                                              "method": "magento.sales.order.exploded"}).encode(),
                "SCHEMA_VALIDATION": json.dumps({"jsonrpc": "2.0", "id": key, "method": topic,
                                                 "params": {"bogus": True}}).encode(),
            }[kind]
            items.append((topic, value, key, kind))
    return items


def _record(stage: Stage, topic: str, key: str, kind: str, sent: object) -> None:
    stage.ledger.poison.append({"key": key, "topic": topic, "kind": kind,
                                "offset": getattr(sent, "offset", None),
                                "partition": getattr(sent, "partition", None)})


async def poison(stage: Stage, topics: list[str]) -> None:
    for topic, value, key, kind in poison_items(topics):
        _record(stage, topic, key, kind, await stage.bus.send(topic, value, key, stage.deadline))
    stage.ledger.faults.append(f"{4 * len(topics)} poison messages on {len(topics)} topics")


async def kill_amid_poison(stage: Stage) -> None:
    """Poison messages amid a burst of snapshots; kill -9 as soon as the first dead letter of
    them shows on the topic, while the rest of the burst is still being consumed."""
    bad = poison_items(POISON_TOPICS[:3] + [APPEASEMENT_CREATE])
    good = [(topic, encode(message), plan.order_id) for plan in stage.plans
            for topic, message in [plan.snapshot("newer")]]
    spacing, queue, mixed = max(1, len(good) // len(bad)), [b[:3] for b in bad], []
    for n, item in enumerate(good, 1):
        mixed.append(item)
        if n % spacing == 0 and queue:
            mixed.append(queue.pop(0))
    mixed += queue
    sending = asyncio.ensure_future(stage.bus.send_many(mixed, stage.deadline))
    keys = {key for _, _, key, _ in bad}
    until = time.monotonic() + 10
    while time.monotonic() < until and not any(stage.tail.dead_keys[k] for k in keys):
        await asyncio.sleep(0.005)
    await stage.restart(stage.services[0], "kill -9 as poison amid snapshots was dead-lettered")
    sent = dict(zip(mixed, await sending, strict=True))
    for topic, value, key, kind in bad:
        _record(stage, topic, key, kind, sent.get((topic, value, key)))
    stage.ledger.faults.append(f"{len(bad)} poison messages amid {len(good)} snapshots")

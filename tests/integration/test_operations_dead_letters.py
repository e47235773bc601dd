"""`dead-letters list | replay` against the running service, its database and broker: a dead
letter goes back to its topic as it first came, marked and audited, once unless asked again."""

from __future__ import annotations

import json
import uuid

import pytest

from schemas import consumed as wire
from schemas.commands import APPEASEMENT_CREATE
from service.domain.projection import ProjectionRules
from service.service_layer.dead_letters import InboundRecord
from service.service_layer.ingest import Projector
from tests.builders import encode, jsonrpc, line, order, unique
from tests.conftest import BANK_KEY, balance_when, eventually, read_topic
from tests.integration.operating import run_cli

pytestmark = pytest.mark.integration


class RulesWithABug(ProjectionRules):
    """A release that cannot map one product type: its messages fail and are dead-lettered."""

    def bucket_of(self, product_type: str) -> str:
        if product_type == "MADE_TO_ORDER":
            raise RuntimeError("no bucket for MADE_TO_ORDER")
        return super().bucket_of(product_type)


def env_of(settings) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "BANK_DETAILS_KEY": BANK_KEY, "DEAD_LETTER_TOPIC": settings.dead_letter_topic}


async def database_now(app) -> str:
    return (await app.state.service.database.pool.fetchval("SELECT now()")).isoformat()


async def test_a_dead_letter_whose_failure_is_fixed_is_replayed_once_and_applied(
    app, api, settings, infra
):
    # given an order message that a release with a bug dead-lettered (PROCESSING_FAILED)
    env = env_of(settings)
    since = await database_now(app)
    order_id = unique("REPLAY")
    value = encode(jsonrpc(wire.ORDER_CREATED, {"order": order(
        order_id, [line("L1", 1, "120.00", "20.83", product_type="MADE_TO_ORDER")])}))
    offset = 10**9 + uuid.uuid4().int % 10**9
    buggy = Projector(app.state.service.database, RulesWithABug(),
                      dead_letter_topic=settings.dead_letter_topic)
    await buggy.handle([InboundRecord(wire.ORDER_CREATED, 0, offset, order_id.encode(), value,
                                      (("traceparent", b"00-trace-span-01"),))])
    letter_id = f"dead-letter:{wire.ORDER_CREATED}:0:{offset}"
    only_mine = ["--code", "PROCESSING_FAILED", "--topic", wire.ORDER_CREATED, "--since", since]

    # when the operator asks what a replay would do
    dry = await run_cli("dead-letters", "replay", *only_mine, "--dry-run", env=env)
    # then it says how many, per code, and replays nothing
    assert dry.code == 0, dry.err
    assert "would replay 1 dead letters" in dry.out
    assert "PROCESSING_FAILED: 1" in dry.out
    assert "no bucket for MADE_TO_ORDER" in dry.out and f"/0@{offset}" in dry.out
    # and a time range that ends before it leaves it out
    before = await run_cli("dead-letters", "replay", *only_mine[:4], "--until", since,
                           "--dry-run", env=env)
    assert before.code == 0, before.err
    assert f"/0@{offset}" not in before.out

    # when the fixed release runs and the operator replays
    ran = await run_cli("dead-letters", "replay", *only_mine, "--by", "ops-ana",
                        "--reason", "bucket mapping fixed", env=env)
    assert ran.code == 0, ran.err
    assert "replayed 1 dead letters, by ops-ana" in ran.out
    # then the original bytes, key and headers are back on their topic, marked as a replay
    record = await read_topic(
        infra.bootstrap_servers, wire.ORDER_CREATED,
        lambda r: dict(r.headers).get("x-replay-of") == letter_id.encode(),
    )
    headers = dict(record.headers)
    assert (record.key, record.value) == (order_id.encode(), value)
    assert headers["traceparent"] == b"00-trace-span-01"
    assert headers["x-replayed-by"] == b"ops-ana"
    assert "x-error-code" not in headers
    # and the running service applies it: the order's balance appears
    balance = await balance_when(api, order_id)
    assert balance["totals"]["paid"]["gross"] == "120.00"
    # and the replay is audited
    audit = await app.state.service.database.pool.fetch(
        "SELECT actor, reason, replay_id FROM dead_letter_replays WHERE letter_id = $1", letter_id)
    assert [(row["actor"], row["reason"]) for row in audit] == [("ops-ana", "bucket mapping fixed")]
    assert headers["x-replay-id"] == audit[0]["replay_id"].encode()

    # when the operator replays the same selection again
    twice = await run_cli("dead-letters", "replay", *only_mine, "--by", "ops-ana", env=env)
    # then nothing is replayed a second time
    assert twice.code == 0, twice.err
    assert "replayed 0 dead letters" in twice.out
    # unless asked with --again, which is audited too
    again = await run_cli("dead-letters", "replay", *only_mine, "--by", "ops-bo", "--again",
                          env=env)
    assert "replayed 1 dead letters, by ops-bo" in again.out
    listed = await run_cli("dead-letters", "list", *only_mine, env=env)
    assert listed.code == 0, listed.err
    assert "1 dead letters" in listed.out
    assert "replayed 2x, last by ops-bo" in listed.out


async def test_a_sealed_command_dead_letter_is_replayed_opened(app, settings, infra):
    # given a command carrying bank details that is not JSON-RPC: dead-lettered sealed
    env = env_of(settings)
    since = await database_now(app)
    order_id = unique("SEALED")
    value = json.dumps({"appeasement": {"order_id": order_id, "iban": "DE89370400440532013000"}})
    await app.state.service.broker.publish(value.encode(), topic=APPEASEMENT_CREATE,
                                           key=order_id.encode())
    pool = app.state.service.database.pool

    async def letter() -> str | None:
        return await pool.fetchval(
            "SELECT message_id FROM outbox WHERE topic = $1 AND raw_key = $2 "
            "AND headers->>'x-sealed' = 'fernet'", settings.dead_letter_topic, order_id.encode())

    letter_id = await eventually(letter)
    selection = ["--topic", APPEASEMENT_CREATE, "--since", since]
    listed = await run_cli("dead-letters", "list", *selection, env=env)
    assert "INVALID_ENVELOPE" in listed.out and " sealed " in listed.out
    assert "DE89370400440532013000" not in listed.out
    # when the operator replays it with the bank-details key
    ran = await run_cli("dead-letters", "replay", *selection, "--by", "ops-ana", env=env)
    assert ran.code == 0, ran.err
    # then the command goes back to its topic as it first came, not sealed
    record = await read_topic(
        infra.bootstrap_servers, APPEASEMENT_CREATE,
        lambda r: dict(r.headers).get("x-replay-of") == letter_id.encode(),
    )
    assert record.value == value.encode()
    assert "x-sealed" not in dict(record.headers)
    # and, still not a command, it is dead-lettered again, sealed, naming the replay it was

    async def second() -> str | None:
        return await pool.fetchval(
            "SELECT message_id FROM outbox WHERE topic = $1 AND headers->>'x-replay-of' = $2 "
            "AND headers->>'x-sealed' = 'fernet'", settings.dead_letter_topic, letter_id)

    assert await eventually(second) != letter_id


async def test_a_replay_needs_to_say_who(settings):
    ran = await run_cli("dead-letters", "replay", "--code", "NO_SUCH_CODE", env=env_of(settings))
    assert ran.code == 2
    assert "--by" in ran.err

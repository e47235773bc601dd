"""MCOM's appeasement command on its topic, answered on appeasement.command_results."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from schemas.commands import APPEASEMENT_CREATE, COMMAND_RESULTS
from tests.builders import unique
from tests.conftest import balance_when, line_of, read_topic
from tests.integration.appeasing import TABLE_ORDER, given_order, published, read_all

pytestmark = pytest.mark.integration


def command(order_id: str, **fields: Any) -> dict[str, Any]:
    """MCOM's appeasement: a line with an amount as a JSON number and its reason."""
    appeasement = {
        "sales_channel_id": "eu-web", "order_id": order_id, "user": "agent-42",
        "origin_date": "2026-11-23T09:00:00Z",
        "lines": [{"id": "L3", "line_number": 3, "amount": Decimal("5.90"),
                   "reason": "DELIVERY_DELAYED", "reason_description": "4 days late"}],
        "custom_attributes": [],
    }
    appeasement.update(fields)
    return {"appeasement": appeasement}


async def reply_to(infra, command_id: str, count: int = 1) -> list[dict[str, Any]]:
    def match(record: Any) -> bool:
        return json.loads(record.value).get("id") == command_id

    if count == 1:
        record = await read_topic(infra.bootstrap_servers, COMMAND_RESULTS, match)
        return [json.loads(record.value)]
    records = await read_all(infra.bootstrap_servers, COMMAND_RESULTS, match)
    return [json.loads(record.value) for record in records]


async def test_mcom_appeasement_command_is_granted_and_answered(api, publish, infra):
    # given an order
    order_id = unique("RPC")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when MCOM's appeasement_management.create arrives on its topic
    sent = await publish(APPEASEMENT_CREATE, command(order_id), key=order_id)
    # then the reply carries the command's id and the appeasement
    [reply] = await reply_to(infra, sent["id"])
    assert reply["jsonrpc"] == "2.0"
    appeasement = reply["result"]["appeasement"]
    assert appeasement["status"] == "PENDINGRELEASE"
    assert appeasement["command_id"] == sent["id"]
    assert appeasement["reason"] == "DELIVERY_DELAYED"
    assert appeasement["comment"] == "4 days late"
    assert appeasement["requested_by"] == "agent-42" and appeasement["role"] == "agent"
    assert [(a["order_line"], a["gross"], a["tax"]) for a in appeasement["allocation"]] == [
        ("L3", "5.90", "1.02")
    ]
    # and the refund event is published, and the balance reserved
    await published(infra.bootstrap_servers, appeasement["id"])
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L3")["creditable"]["gross"] == "0.00"


async def test_the_command_id_is_the_idempotency_key(api, publish, infra):
    # given a command that was granted
    order_id = unique("RPCIDEM")
    await given_order(api, publish, order_id, TABLE_ORDER)
    sent = await publish(APPEASEMENT_CREATE, command(order_id), key=order_id)
    [first] = await reply_to(infra, sent["id"])
    # when it is delivered again, and then its id is reused for another request
    await publish(APPEASEMENT_CREATE, command(order_id), key=order_id, message_id=sent["id"])
    other = command(order_id, comment="something else")
    await publish(APPEASEMENT_CREATE, other, key=order_id, message_id=sent["id"])
    # then the redelivery is answered with the first result and the reuse is refused
    replies = await reply_to(infra, sent["id"], count=3)
    assert len(replies) == 3
    assert replies[0] == first and replies[1] == first
    assert replies[2]["error"]["data"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # and only one appeasement exists
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L3")["appeased"]["gross"] == "5.90"


async def test_a_broken_rule_is_answered_with_its_code(api, publish, infra):
    order_id = unique("RPCRULE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    too_much = command(order_id)
    too_much["appeasement"]["lines"][0]["amount"] = Decimal("6.00")
    sent = await publish(APPEASEMENT_CREATE, too_much, key=order_id)
    [reply] = await reply_to(infra, sent["id"])
    assert "result" not in reply
    assert reply["error"]["code"] == -32000
    assert reply["error"]["data"] == {
        "code": "EXCEEDS_CREDITABLE_BALANCE", "bucket": "shipping", "line": "L3",
        "requested": "6.00", "available": "5.90",
    }


async def test_extensions_ask_by_amounts_percent_and_line_number(api, publish, infra):
    order_id = unique("RPCEXT")
    await given_order(api, publish, order_id, TABLE_ORDER)
    by_percent = command(order_id, lines=None, reason="ARTICLE_DEFECTIVE", percent=Decimal("10"),
                         role="lead", user="lead-7")
    by_number = command(order_id, lines=[{"line_number": 2, "amount": 3, "reason": "CORRECTION_PRICE"}])
    sent_percent = await publish(APPEASEMENT_CREATE, by_percent, key=order_id)
    sent_number = await publish(APPEASEMENT_CREATE, by_number, key=order_id)
    [percent_reply] = await reply_to(infra, sent_percent["id"])
    [number_reply] = await reply_to(infra, sent_number["id"])
    assert percent_reply["result"]["appeasement"]["amount"] == "53.89"  # 10 % of 538.90
    assert percent_reply["result"]["appeasement"]["role"] == "lead"
    assert [a["order_line"] for a in number_reply["result"]["appeasement"]["allocation"]] == ["L2"]
    assert number_reply["result"]["appeasement"]["amount"] == "3.00"


async def test_a_malformed_command_is_dead_lettered_and_answered(api, publish, producer, infra):
    # given an order
    order_id = unique("RPCBAD")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when a command without a user, then bytes that are not JSON, then a good command arrive
    bad = await publish(APPEASEMENT_CREATE, {"appeasement": {"order_id": order_id}}, key=order_id)
    await producer.send_and_wait(APPEASEMENT_CREATE, b"{not json", key=order_id.encode())
    good = await publish(APPEASEMENT_CREATE, command(order_id), key=order_id)
    # then the invalid command is refused with MALFORMED_REQUEST and dead-lettered
    [reply] = await reply_to(infra, bad["id"])
    assert reply["error"]["data"]["code"] == "MALFORMED_REQUEST"
    assert "appeasement.user" in reply["error"]["message"]

    def dead(code: str):
        def match(record: Any) -> bool:
            headers = dict(record.headers)
            return (headers.get("x-error-code") == code.encode()
                    and record.key == order_id.encode())
        return match

    letter = await read_topic(infra.bootstrap_servers, "appeasement.dead_letter",
                              dead("SCHEMA_VALIDATION"))
    assert dict(letter.headers)["x-original-topic"] == APPEASEMENT_CREATE.encode()
    await read_topic(infra.bootstrap_servers, "appeasement.dead_letter", dead("MALFORMED_JSON"))
    # and the consumer went on to grant the good one
    [answer] = await reply_to(infra, good["id"])
    assert answer["result"]["appeasement"]["status"] == "PENDINGRELEASE"



async def test_consumed_batches_are_handled_on_the_event_loop_not_in_worker_threads(
    api, publish, infra, monkeypatch
):
    """A hop to a worker thread per batch costs a grant's worth of latency under load; the
    handlers of both consumer groups take their records without one."""
    import anyio.to_thread

    handed_over: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        handed_over.append(getattr(function, "__qualname__", repr(function)))
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    # when an order is projected and a command on it answered
    order_id = unique("LOOP")
    await given_order(api, publish, order_id, TABLE_ORDER)
    sent = await publish(APPEASEMENT_CREATE, command(order_id), key=order_id)
    [reply] = await reply_to(infra, sent["id"])
    assert reply["result"]["appeasement"]["status"] == "PENDINGRELEASE"
    # then neither batch went through a worker thread
    assert handed_over == []

"""Above a role's limits an appeasement is held, money reserved, until a second person decides."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.commands import APPEASEMENT_APPROVE, APPEASEMENT_DECLINE, COMMAND_RESULTS
from tests.builders import line, unique
from tests.conftest import balance_when, read_topic
from tests.integration.appeasing import (
    AGENT,
    LEAD,
    LEAD_2,
    LEAD_AS_AGENT,
    MANAGER,
    given_order,
    grant,
    published,
)

pytestmark = pytest.mark.integration

ORDER = [line("L1", 1, "900.00", "156.20"), line("L2", 2, "9.90", "1.72", product_type="SHIPPING")]


def product(amount: str) -> dict[str, Any]:
    return {"reason": "ARTICLE_DEFECTIVE", "amounts": {"product": amount}}


async def decide(api, appeasement_id: str, decision: str, caller, comment: str | None = None):
    return await api.post(f"/v1/appeasements/{appeasement_id}/{decision}",
                          json={"comment": comment}, headers=caller)


async def test_an_agent_within_limits_goes_straight_to_pending_release(api, publish):
    order_id = unique("WITHIN")
    await given_order(api, publish, order_id, ORDER)
    response = await grant(api, order_id, product("80.00"), caller=AGENT)
    assert response.status_code == 201
    assert response.json()["status"] == "PENDINGRELEASE"


async def test_an_over_limit_grant_is_held_then_approved_by_a_lead(api, publish, infra):
    # given an agent asking for 150.00, above the agent's 100.00
    order_id = unique("HELD")
    await given_order(api, publish, order_id, ORDER)
    held = (await grant(api, order_id, product("150.00"), caller=AGENT)).json()
    # then it is held for approval, its money reserved, and the hold is published
    assert held["status"] == "PENDINGAPPROVAL"
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "150.00"
    event = await published(infra.bootstrap_servers, held["id"], "PENDINGAPPROVAL")
    assert event["message"]["params"]["refund"]["status"]["reason_code"] == "ABOVE_ROLE_LIMIT"
    # when a lead approves it
    approved = await decide(api, held["id"], "approve", LEAD, "photos checked")
    # then it is on its way, with the approver on the event and in the audit trail
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "PENDINGRELEASE"
    assert approved.json()["approved_by"] == "lead-7"
    event = await published(infra.bootstrap_servers, held["id"], "PENDINGRELEASE")
    assert event["message"]["params"]["refund"]["appeasement"]["approved_by"] == "lead-7"
    assert [(t["to_status"], t["actor"], t["comment"]) for t in approved.json()["transitions"]] == [
        ("PENDINGAPPROVAL", "agent-42", None), ("PENDINGRELEASE", "lead-7", "photos checked"),
    ]
    # and a second decision is refused
    again = await decide(api, held["id"], "decline", LEAD_2)
    assert again.status_code == 422
    assert again.json()["code"] == "NOT_PENDING_APPROVAL"


async def test_a_declined_appeasement_gives_its_money_back(api, publish, infra):
    order_id = unique("DECLINE")
    await given_order(api, publish, order_id, ORDER)
    held = (await grant(api, order_id, product("150.00"), caller=AGENT)).json()
    declined = await decide(api, held["id"], "decline", LEAD, "already compensated")
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "DECLINED"
    assert declined.json()["approved_by"] is None
    await published(infra.bootstrap_servers, held["id"], "DECLINED")
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "0.00"
    assert balance["totals"]["creditable"]["gross"] == "909.90"


async def test_nobody_approves_their_own_request(api, publish):
    # given lead-7, acting as an agent, asking above the agent's limit
    order_id = unique("SELF")
    await given_order(api, publish, order_id, ORDER)
    held = (await grant(api, order_id, product("150.00"), caller=LEAD_AS_AGENT)).json()
    assert held["status"] == "PENDINGAPPROVAL"
    # when lead-7 approves it as a lead
    response = await decide(api, held["id"], "approve", LEAD)
    # then it is refused, and it stays held
    assert response.status_code == 422
    assert response.json()["code"] == "APPROVER_IS_REQUESTER"
    current = (await api.get(f"/v1/appeasements/{held['id']}", headers=MANAGER)).json()
    assert current["status"] == "PENDINGAPPROVAL"


async def test_an_approver_needs_an_approving_role_whose_limit_covers_the_amount(api, publish):
    order_id = unique("LIMIT")
    await given_order(api, publish, order_id, [line("L1", 1, "2000.00", "347.11")])
    held = (await grant(api, order_id, product("1200.00"), caller=AGENT)).json()
    assert held["status"] == "PENDINGAPPROVAL"
    by_agent = await decide(api, held["id"], "approve", AGENT)
    assert by_agent.status_code == 403 and by_agent.json()["code"] == "FORBIDDEN"
    by_lead = await decide(api, held["id"], "approve", LEAD)
    assert by_lead.status_code == 422 and by_lead.json()["code"] == "ROLE_LIMIT_EXCEEDED"
    assert by_lead.json()["which"] == "max_per_appeasement"
    by_manager = await decide(api, held["id"], "approve", MANAGER)
    assert by_manager.status_code == 200 and by_manager.json()["status"] == "PENDINGRELEASE"


async def test_the_per_order_limit_counts_earlier_appeasements(api, publish):
    # given an agent who gave 100.00 twice on one order (the agent's order limit is 250.00)
    order_id = unique("CUMUL")
    await given_order(api, publish, order_id, ORDER)
    for _ in range(2):
        assert (await grant(api, order_id, product("100.00"), caller=AGENT)).json()["status"] == (
            "PENDINGRELEASE"
        )
    # when a third 100.00 is asked
    third = await grant(api, order_id, product("100.00"), caller=AGENT)
    # then it is held: 300.00 would exceed the per-order limit
    assert third.json()["status"] == "PENDINGAPPROVAL"


async def test_the_per_customer_window_spans_the_customers_orders(api, publish):
    # given one customer with three orders, and 500.00 over 30 days for agents
    customer = unique("CUST")
    orders = [unique("WIN") for _ in range(3)]
    for order_id in orders:
        await given_order(api, publish, order_id, ORDER, customer_id=customer)
    statuses = []
    for order_id, amounts in zip(orders, [("100.00", "100.00"), ("100.00", "100.00"),
                                          ("100.00", "50.00")], strict=True):
        for amount in amounts:
            statuses.append((await grant(api, order_id, product(amount), caller=AGENT)).json()["status"])
    # then the first 500.00 went through and the next 50.00 is held
    assert statuses == ["PENDINGRELEASE"] * 5 + ["PENDINGAPPROVAL"]
    # and another customer is not affected
    other = unique("OTHER")
    await given_order(api, publish, other, ORDER)
    assert (await grant(api, other, product("50.00"), caller=AGENT)).json()["status"] == (
        "PENDINGRELEASE"
    )


async def test_decisions_arrive_as_commands_too(api, publish, infra):
    # given two held appeasements
    order_id = unique("RPCDEC")
    await given_order(api, publish, order_id, ORDER)
    first, second = [(await grant(api, order_id, product("120.00"), caller=AGENT)).json()
                     for _ in range(2)]
    # when a lead approves one and declines the other on the command topics
    approve = await publish(APPEASEMENT_APPROVE, {"appeasement_id": first["id"], "user": "lead-7",
                                                  "role": "lead"}, key=order_id)
    decline = await publish(APPEASEMENT_DECLINE, {"appeasement_id": second["id"], "user": "lead-7",
                                                  "role": "lead", "comment": "no"}, key=order_id)

    async def reply(command_id: str) -> dict[str, Any]:
        record = await read_topic(infra.bootstrap_servers, COMMAND_RESULTS,
                                  lambda r: json.loads(r.value).get("id") == command_id)
        return json.loads(record.value)

    # then both are answered with the appeasement in its new status
    assert (await reply(approve["id"]))["result"]["appeasement"]["status"] == "PENDINGRELEASE"
    assert (await reply(decline["id"]))["result"]["appeasement"]["status"] == "DECLINED"
    balance = await balance_when(api, order_id)
    assert balance["totals"]["appeased"]["gross"] == "120.00"

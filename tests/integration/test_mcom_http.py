"""MCOM's integration bus over HTTP: the same messages as on the topics, the same handlers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemas import consumed as wire
from schemas.commands import APPEASEMENT_CREATE, COMMAND_RESULTS, COMMANDS
from service.domain.projection import ProjectionRules
from service.entrypoints import http
from service.service_layer.ingest import Projector
from service.service_layer.mcom_ingress import McomIngress
from service.settings import Settings
from tests.builders import encode, jsonrpc, line, order, refund, return_, unique
from tests.conftest import MCOM_SECRET, balance_when, eventually, line_of, read_topic
from tests.integration.appeasing import TABLE_ORDER, given_order
from tests.integration.test_appeasement_commands import command
from tests.integration.test_ingest_faults import ExplodingRules, FlakyDatabase

pytestmark = pytest.mark.integration

MCOM = {"Authorization": f"Bearer {MCOM_SECRET}"}


async def deliver(
    api: httpx.AsyncClient, body: bytes | dict[str, Any], headers: dict[str, str] = MCOM
) -> httpx.Response:
    """One delivery as MCOM's bus makes it: the JSON-RPC message, the registered secret."""
    content = body if isinstance(body, bytes) else encode(body)
    # no bearer token of a user: the shared secret alone
    return await api.post("/mcom", content=content,
                          headers={"Authorization": "", "Content-Type": "application/json",
                                   **headers})


def oms_story(order_id: str) -> list[dict[str, Any]]:
    """An order's life as the OMS tells it: created, a line cancelled, a return requested,
    its refund released, a shipment."""
    lines = [line("L1", 1, "499.00", "86.60"), line("L2", 2, "39.90", "6.92", quantity=2),
             line("L3", 3, "5.90", "1.02", product_type="SHIPPING"),
             line("L4", 4, "12.00", "2.08")]
    rma = f"RMA-{order_id}"
    return [
        jsonrpc(wire.ORDER_CREATED, {"order": order(order_id, lines)}),
        jsonrpc(wire.LINE_CANCELLED, {"order_id": order_id, "order_line_id": "L4"}),
        jsonrpc(wire.RETURN_UPDATED, {"return": return_(order_id, rma, [2, 2], "REQUESTED")}),
        jsonrpc(wire.REFUND_UPDATED, {"refund": refund(
            order_id, f"CN-{order_id}", [("L2", "19.95", "3.46")], rma=rma)}),
        jsonrpc(wire.SHIPMENT_DONE, {"shipment": {
            "order_id": order_id, "shipment_date": "2026-11-21", "method": "DHL",
            "items": [{"order_line_id": "L1", "order_line_number": 1, "status": "SHIPPED"}],
            "packages": []}}),
    ]


def without_ids(balance: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in balance.items() if key != "order_id"}


async def test_the_same_messages_over_kafka_and_over_http_give_the_same_balance(
    api, app, producer
):
    # given one order's story told on the topics (each event once the order is known)
    on_kafka, over_http = unique("K"), unique("H")
    created, *events = oms_story(on_kafka)
    await producer.send_and_wait(wire.ORDER_CREATED, encode(created), key=on_kafka.encode())
    await balance_when(api, on_kafka)
    for message in events:
        await producer.send_and_wait(message["method"], encode(message), key=on_kafka.encode())
    # when the same story of another order is delivered over HTTP
    answers = [(await deliver(api, message)) for message in oms_story(over_http)]
    # then each delivery was applied, and answered
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["result"] for a in answers] == [
        {"outcome": "applied", "order_id": over_http}
    ] * 5
    # and once the topics' messages are all applied, both orders have the same balance
    pool = app.state.service.database.pool
    kafka_ids = [created["id"], *(message["id"] for message in events)]

    async def all_applied() -> bool:
        return await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE message_id = ANY($1::text[])", kafka_ids) == 5

    await eventually(all_applied)
    kafka_balance = (await api.get(f"/v1/orders/{on_kafka}/balance")).json()
    http_balance = (await api.get(f"/v1/orders/{over_http}/balance")).json()
    assert line_of(http_balance, "L2")["refunded"]["gross"] == "19.95"
    assert line_of(http_balance, "L2")["under_return_quantity"] == 1
    assert line_of(http_balance, "L4")["cancelled"] is True
    assert without_ids(http_balance) == without_ids(kafka_balance)


async def test_the_answer_carries_the_request_id_as_sent(api):
    # given an order event whose id is a number
    order_id = unique("NUM")
    message = jsonrpc(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "10.00", "1.60")])})
    message["id"] = int(hashlib.sha256(order_id.encode()).hexdigest()[:12], 16)
    # when it is delivered
    response = await deliver(api, message)
    # then the response is JSON-RPC 2.0 with that very id
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "jsonrpc": "2.0", "id": message["id"],
        "result": {"outcome": "applied", "order_id": order_id},
    }


async def test_a_duplicate_is_a_no_op_over_http_and_across_transports(api, app, producer):
    # given an order and a released refund delivered over HTTP with id X
    order_id = unique("DUPH")
    await deliver(api, jsonrpc(wire.ORDER_CREATED,
                               {"order": order(order_id, [line("L1", 1, "80.00", "12.77")])}))
    refund_x = jsonrpc(wire.REFUND_UPDATED, {"refund": refund(
        order_id, unique("CN"), [("L1", "10.00", "1.60")])})
    assert (await deliver(api, refund_x)).json()["result"]["outcome"] == "applied"
    # when MCOM delivers X again, and X also comes on the topic
    again = await deliver(api, refund_x)
    await producer.send_and_wait(wire.REFUND_UPDATED, encode(refund_x), key=order_id.encode())
    # and a later message on the topic shows the consumer went past it
    await producer.send_and_wait(wire.LINE_CANCELLED, encode(jsonrpc(
        wire.LINE_CANCELLED, {"order_id": order_id, "order_line_id": "GHOST"})),
        key=order_id.encode())
    pool = app.state.service.database.pool

    async def marker_applied() -> bool:
        return bool(await pool.fetchval(
            "SELECT 'GHOST' = ANY(cancelled_line_ids) FROM orders WHERE order_id = $1", order_id))

    await eventually(marker_applied)
    # then the second delivery was answered as a duplicate, and X counted once
    assert again.status_code == 200
    assert again.json()["result"] == {"outcome": "duplicate", "order_id": order_id}
    balance = (await api.get(f"/v1/orders/{order_id}/balance")).json()
    assert balance["totals"]["refunded"]["gross"] == "10.00"
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE message_id = $1",
                               refund_x["id"]) == 1


async def test_a_message_applied_from_the_topic_is_a_duplicate_over_http(api, app, publish):
    # given an order event applied from its topic
    order_id = unique("DUPK")
    sent = await publish(wire.ORDER_CREATED,
                         {"order": order(order_id, [line("L1", 1, "30.00", "5.21")])},
                         key=order_id)
    await balance_when(api, order_id)
    # when MCOM delivers the same message over HTTP
    response = await deliver(api, sent)
    # then it is answered as a duplicate and the inbox holds it once
    assert response.json()["result"] == {"outcome": "duplicate", "order_id": order_id}
    assert await app.state.service.database.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE message_id = $1", sent["id"]) == 1


def _good_order(order_id: str) -> dict[str, Any]:
    return jsonrpc(wire.ORDER_CREATED, {"order": order(order_id, [line("L1", 1, "1.00", "0.16")])})


def _broken(how: str, order_id: str) -> bytes:
    message = _good_order(order_id)
    if how == "not json":
        return b"{not json " + order_id.encode()
    if how == "schema":
        message["params"]["order"]["lines"][0].pop("amount")
    elif how == "currency":
        message["params"]["order"]["payments"][0]["currency"] = "XXZ"
    elif how == "method":
        message["method"] = "magento.sales.order_management.deleted"
    elif how == "params by position":
        message["params"] = [order_id]
    elif how == "batch":
        return json.dumps([message], default=str).encode()
    return encode(message)


@pytest.mark.parametrize(
    ("how", "rpc_code", "code", "topic"),
    [
        ("not json", -32700, "MALFORMED_JSON", "/mcom"),
        ("params by position", -32600, "INVALID_ENVELOPE", wire.ORDER_CREATED),
        ("batch", -32600, "INVALID_ENVELOPE", "/mcom"),
        ("method", -32601, "UNKNOWN_METHOD", "/mcom"),
        ("schema", -32602, "SCHEMA_VALIDATION", wire.ORDER_CREATED),
        ("currency", -32602, "UNKNOWN_CURRENCY", wire.ORDER_CREATED),
    ],
)
async def test_a_malformed_delivery_is_answered_with_an_error_and_dead_lettered(
    api, app, settings, how, rpc_code, code, topic
):
    # given a delivery broken in one specific way
    order_id = unique("BADH")
    body = _broken(how, order_id)
    # when MCOM delivers it, twice
    first = await deliver(api, body)
    second = await deliver(api, body)
    # then it is answered with the JSON-RPC error, our code and reason in its data
    assert first.status_code == 200 and second.json() == first.json()
    answer = first.json()
    assert answer["jsonrpc"] == "2.0" and "result" not in answer
    assert answer["id"] == (None if how in ("not json", "batch") else json.loads(body)["id"])
    assert answer["error"]["code"] == rpc_code
    assert answer["error"]["data"]["code"] == code and answer["error"]["data"]["reason"]
    # and dead-lettered once, with its bytes, the reason and where it came from
    letter_id = answer["error"]["data"]["dead_letter"]
    assert await app.state.service.database.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_id = $1", letter_id) == 1
    record = await read_topic(settings.kafka_bootstrap_servers, settings.dead_letter_topic,
                              lambda r: r.value == body)
    headers = dict(record.headers)
    assert headers["x-error-code"] == code.encode()
    assert headers["x-error-message"].decode() == answer["error"]["data"]["reason"]
    assert headers["x-original-topic"] == topic.encode()
    assert headers["x-original-transport"] == b"http"
    assert "x-original-offset" not in headers
    assert (await api.get(f"/v1/orders/{order_id}/balance")).status_code == 404


async def test_a_notification_gets_no_response_and_is_dead_lettered_for_want_of_an_id(api, app):
    # given a JSON-RPC notification: a request without an id, which nothing could dedupe
    order_id = unique("NOTE")
    message = _good_order(order_id)
    del message["id"]
    body = encode(message)
    # when MCOM delivers it
    response = await deliver(api, body)
    # then there is no response body, per JSON-RPC 2.0, and nothing was applied
    assert response.status_code == 204 and response.content == b""
    assert (await api.get(f"/v1/orders/{order_id}/balance")).status_code == 404
    # and it is dead-lettered under the hash of its bytes
    letter_id = f"dead-letter:http:sha256:{hashlib.sha256(body).hexdigest()}"
    headers = await app.state.service.database.pool.fetchval(
        "SELECT headers FROM outbox WHERE message_id = $1", letter_id)
    assert json.loads(headers)["x-error-code"] == "INVALID_ENVELOPE"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-secret-at-all"},
        {"Authorization": f"Basic {MCOM_SECRET}"},
        {"Authorization": f"Bearer {MCOM_SECRET}x"},
        {"X-Integration-Secret": MCOM_SECRET},
        {"Authorization": "Bearer agent-token"},
    ],
    ids=["missing", "wrong", "other scheme", "longer", "other header", "a user's token"],
)
async def test_a_delivery_without_the_secret_is_refused(api, headers):
    # given a good order message
    order_id = unique("AUTH")
    # when it comes without the registered secret
    response = await deliver(api, _good_order(order_id), headers=headers)
    # then it is refused with a problem, and nothing is applied
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert (await api.get(f"/v1/orders/{order_id}/balance")).status_code == 404


def _app_with(settings: Settings, app: FastAPI, **changes: Any) -> FastAPI:
    """The running service behind a route built from other MCOM settings."""
    other = settings.model_copy(update=changes)
    application = FastAPI()
    application.state.service = dataclasses.replace(
        app.state.service, settings=other, mcom_secret=other.mcom_secret()
    )
    http.install(application, other)
    return application


async def test_a_custom_header_carries_the_secret_alone(app, settings, api):
    # given the secret configured in X-Integration-Secret, without a scheme
    custom = _app_with(settings, app, mcom_auth_header="X-Integration-Secret",
                       mcom_auth_scheme="", mcom_path="/integrations/mcom")
    order_id = unique("HDR")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=custom),
                                 base_url="http://service") as client:
        # when MCOM delivers with the secret in that header, and once as a bearer token
        accepted = await client.post("/integrations/mcom", content=encode(_good_order(order_id)),
                                     headers={"X-Integration-Secret": MCOM_SECRET})
        refused = await client.post("/integrations/mcom", content=encode(_good_order(order_id)),
                                    headers=MCOM)
    # then the first is applied and the second refused
    assert accepted.status_code == 200
    assert accepted.json()["result"] == {"outcome": "applied", "order_id": order_id}
    assert refused.status_code == 401 and "www-authenticate" not in refused.headers
    assert (await api.get(f"/v1/orders/{order_id}/balance")).status_code == 200


async def test_without_a_configured_secret_the_route_is_not_there(app, settings):
    # given no MCOM_SHARED_SECRET
    closed = _app_with(settings, app, mcom_shared_secret=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=closed),
                                 base_url="http://service") as client:
        # when anything is delivered, with any header
        response = await client.post("/mcom", content=encode(_good_order(unique("OFF"))),
                                     headers=MCOM)
    # then the route answers like one that does not exist
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def _app_with_projector(settings: Settings, app: FastAPI, projector: Projector) -> FastAPI:
    service = app.state.service
    application = FastAPI()
    application.state.service = dataclasses.replace(
        service, mcom=McomIngress(projector, service.mcom.commands, source=settings.mcom_path)
    )
    http.install(application, settings)
    return application


async def test_a_database_outage_is_a_503_with_nothing_written_and_the_redelivery_applies(
    app, settings
):
    # given a database that is unreachable for the first delivery
    database = app.state.service.database
    flaky = FlakyDatabase(database, failures=1)
    projector = Projector(flaky, ProjectionRules(), dead_letter_topic=settings.dead_letter_topic)
    outage = _app_with_projector(settings, app, projector)
    message = _good_order(unique("OUTAGE"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outage),
                                 base_url="http://service") as client:
        # when MCOM delivers an order, and delivers it again after the 503
        refused = await client.post("/mcom", content=encode(message), headers=MCOM)
        written = await database.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE message_id = $1", message["id"])
        again = await client.post("/mcom", content=encode(message), headers=MCOM)
    # then the first is a 503 to retry, with nothing written, and the second is applied
    assert refused.status_code == 503
    assert refused.json()["code"] == "DATABASE_UNAVAILABLE"
    assert refused.headers["retry-after"] == "2"
    assert written == 0
    assert again.json()["result"]["outcome"] == "applied"


async def test_a_message_that_fails_on_its_own_is_an_internal_error_and_dead_lettered(
    app, settings
):
    # given a projection that cannot map one product type
    projector = Projector(app.state.service.database, ExplodingRules(),
                          dead_letter_topic=settings.dead_letter_topic)
    failing = _app_with_projector(settings, app, projector)
    order_id = unique("EXPLODE")
    message = jsonrpc(wire.ORDER_CREATED, {"order": order(
        order_id, [line("L1", 1, "10.00", "1.60", product_type="EXPLODE")])})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=failing),
                                 base_url="http://service") as client:
        # when MCOM delivers an order of that type
        response = await client.post("/mcom", content=encode(message), headers=MCOM)
    # then the answer is JSON-RPC's internal error, without the defect's own words
    error = response.json()["error"]
    assert response.status_code == 200 and error["code"] == -32603
    assert error["data"]["code"] == "PROCESSING_FAILED"
    assert "cannot map" not in json.dumps(error)
    # and the dead letter keeps the reason
    headers = await app.state.service.database.pool.fetchval(
        "SELECT headers FROM outbox WHERE message_id = $1", f"dead-letter:http:{message['id']}")
    assert "cannot map this product type" in json.loads(headers)["x-error-message"]


async def test_a_body_above_the_limit_is_a_413(api):
    response = await deliver(api, b'{"jsonrpc": "2.0", "pad": "' + b"x" * 70_000 + b'"}')
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def _reply(infra, command_id: str) -> dict[str, Any]:
    record = await read_topic(infra.bootstrap_servers, COMMAND_RESULTS,
                              lambda r: json.loads(r.value).get("id") == command_id)
    return json.loads(record.value)


async def test_appeasement_create_over_http_is_answered_and_replied_on_the_topic(
    api, publish, infra
):
    # given an order
    order_id = unique("HRPC")
    await given_order(api, publish, order_id, TABLE_ORDER)
    # when MCOM delivers its appeasement_management.create over HTTP, twice
    sent = jsonrpc(APPEASEMENT_CREATE, command(order_id))
    first = await deliver(api, sent)
    again = await deliver(api, sent)
    # then the answer is the grant, the same as the reply on the results topic
    assert first.status_code == 200
    answer = first.json()
    assert answer["id"] == sent["id"]
    appeasement = answer["result"]["appeasement"]
    assert appeasement["status"] == "PENDINGRELEASE" and appeasement["command_id"] == sent["id"]
    assert [(a["order_line"], a["gross"]) for a in appeasement["allocation"]] == [("L3", "5.90")]
    reply = await _reply(infra, sent["id"])
    assert reply == {"jsonrpc": "2.0", "id": sent["id"], "result": answer["result"]}
    # and the redelivery is answered with the first grant; one appeasement exists
    assert again.json() == answer
    balance = await balance_when(api, order_id)
    assert line_of(balance, "L3")["appeased"]["gross"] == "5.90"


async def test_a_broken_rule_over_http_is_an_application_error_like_the_reply(
    api, publish, infra
):
    # given an order with 5.90 shipping
    order_id = unique("HRULE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    too_much = command(order_id)
    too_much["appeasement"]["lines"][0]["amount"] = Decimal("6.00")
    sent = jsonrpc(APPEASEMENT_CREATE, too_much)
    # when MCOM asks for 6.00 of it
    response = await deliver(api, sent)
    # then the answer is the refusal, with the rule code, as on the results topic
    answer = response.json()
    assert response.status_code == 200 and "result" not in answer
    assert answer["error"]["code"] == -32000
    assert answer["error"]["data"] == {
        "code": "EXCEEDS_CREDITABLE_BALANCE", "bucket": "shipping", "line": "L3",
        "requested": "6.00", "available": "5.90",
    }
    assert (await _reply(infra, sent["id"]))["error"] == answer["error"]


async def test_a_psp_outcome_over_http_releases_the_appeasement(api, publish, infra):
    # given an appeasement granted over HTTP
    order_id = unique("HPSP")
    await given_order(api, publish, order_id, TABLE_ORDER)
    granted = (await deliver(api, jsonrpc(APPEASEMENT_CREATE, command(order_id)))).json()
    appeasement_id = granted["result"]["appeasement"]["id"]
    # when the PSP's release arrives over HTTP
    release = jsonrpc("magento.postsales.refund_management.release", {
        "order_id": order_id, "credit_note_number": appeasement_id, "user": "psp"})
    response = await deliver(api, release)
    # then it is applied and the appeasement is RELEASED
    assert response.json()["result"] == {
        "outcome": "applied", "order_id": order_id, "credit_note_number": appeasement_id,
    }
    assert (await api.get(f"/v1/appeasements/{appeasement_id}")).json()["status"] == "RELEASED"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
METHODS = st.sampled_from([*wire.CONSUMED, *COMMANDS, "no.such.method"]) | st.text(max_size=30)
#: JSON-RPC-shaped documents with any member missing or of any type, and any JSON at all.
DOCUMENTS = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.just("2.0") | JSON_VALUES, "id": st.text(max_size=30) | JSON_VALUES,
    "method": METHODS | JSON_VALUES, "params": JSON_VALUES,
}) | JSON_VALUES


@hypothesis_settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=DOCUMENTS)
async def test_no_json_body_makes_a_500(api, document):
    # given any JSON document, JSON-RPC-shaped or not
    body = encode(document)
    # when MCOM delivers it
    response = await deliver(api, body)
    # then it is answered per JSON-RPC 2.0: a response with an id, or nothing for a
    # notification; never a server error
    assert response.status_code in (200, 204), response.text
    if response.status_code == 200:
        answer = response.json()
        assert answer["jsonrpc"] == "2.0" and "id" in answer
        assert ("result" in answer) != ("error" in answer)

"""Every error the HTTP API sends is problem+json with a stable code, whatever goes wrong."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.builders import unique
from tests.integration.appeasing import MANAGER, TABLE_ORDER, given_order

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


async def test_a_body_that_is_not_json_is_400_malformed_json(api, publish):
    order_id = unique("NOTJSON")
    await given_order(api, publish, order_id, TABLE_ORDER)
    response = await api.post(
        f"/v1/orders/{order_id}/appeasements/preview", content=b'{"reason": ',
        headers={**MANAGER, "content-type": "application/json"},
    )
    assert_problem(response, 400, "MALFORMED_JSON")


async def test_an_unknown_route_is_404_not_found(api):
    assert_problem(await api.get("/v1/nothing-here", headers=MANAGER), 404, "NOT_FOUND")
    assert_problem(await api.delete("/nothing/at/all", headers=MANAGER), 404, "NOT_FOUND")


async def test_a_wrong_method_is_405_listing_every_method_of_the_path(api):
    response = await api.delete("/v1/orders/O-1/appeasements", headers=MANAGER)
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}


async def test_options_lists_every_method_of_the_path(api):
    response = await api.options("/v1/orders/O-1/appeasements")
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert_problem(await api.options("/v1/nothing-here"), 404, "NOT_FOUND")


async def test_a_body_above_64_kib_is_413(api):
    body = b'{"reason": "OTHER", "comment": "' + b"x" * 70_000 + b'", "percent": "1"}'
    response = await api.post("/v1/orders/O-1/appeasements/preview", content=body,
                              headers={**MANAGER, "content-type": "application/json"})
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


async def test_free_texts_and_lines_are_bounded(api, publish):
    order_id = unique("BOUNDED")
    await given_order(api, publish, order_id, TABLE_ORDER)
    long_comment = {"reason": "OTHER", "comment": "x" * 1001, "percent": "1"}
    many_lines = {"reason": "OTHER", "lines": [{"line_id": "L1", "amount": "0.01"}] * 501}
    control = {"reason": "OTHER", "comment": "nul\x00byte", "percent": "1"}
    for body in (long_comment, many_lines, control):
        response = await api.post(f"/v1/orders/{order_id}/appeasements/preview", json=body,
                                  headers=MANAGER)
        assert_problem(response, 422, "MALFORMED_REQUEST")


async def test_a_control_character_in_a_path_is_refused_not_a_500(api):
    response = await api.get("/v1/orders/A%00B/balance", headers=MANAGER)
    assert_problem(response, 422, "MALFORMED_REQUEST")


async def test_two_shapes_in_one_body_are_refused(api, publish):
    order_id = unique("SHAPES")
    await given_order(api, publish, order_id, TABLE_ORDER)
    response = await api.post(f"/v1/orders/{order_id}/appeasements/preview", headers=MANAGER,
                              json={"reason": "OTHER", "percent": "5",
                                    "amounts": {"shipping": "1.00"}})
    assert_problem(response, 422, "MALFORMED_REQUEST")
    response = await api.post(f"/v1/orders/{order_id}/appeasements/preview", headers=MANAGER,
                              json={"reason": "OTHER"})
    assert_problem(response, 422, "MALFORMED_REQUEST")


def test_the_request_body_is_one_of_three_shapes_in_the_openapi_document(app):
    schema = app.openapi()
    operation = schema["paths"]["/v1/orders/{order_id}/appeasements"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert [ref["$ref"].rsplit("/", 1)[-1] for ref in body["oneOf"]] == [
        "AmountsRequest", "LinesRequest", "PercentRequest",
    ]
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "422", "500", "503"} <= set(
        operation["responses"]
    )


async def test_above_the_grants_in_flight_the_service_sheds_load_at_once(app, api, publish):
    # given an instance that takes one grant at a time, and one grant in flight
    order_id = unique("SHED")
    await given_order(api, publish, order_id, TABLE_ORDER)
    limiter = app.state.service.appeasements._in_flight
    limit = limiter.limit
    limiter.limit = limiter.count
    try:
        # when another grant arrives
        response = await api.post(
            f"/v1/orders/{order_id}/appeasements", headers={**MANAGER, "Idempotency-Key": "k1"},
            json={"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "1.00"}},
        )
    finally:
        limiter.limit = limit
    # then it is refused at once, to be retried, and nothing was decided
    assert_problem(response, 503, "OVERLOADED")
    assert response.headers["retry-after"] == "1"
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == [] and history["rejections"] == []


async def test_an_overloaded_instance_refuses_a_grant_before_reading_it(app, api):
    # given an instance with no room for another grant
    limiter = app.state.service.appeasements._in_flight
    limit = limiter.limit
    limiter.limit = limiter.count
    try:
        # when a grant arrives with a token nobody issued and no readable body
        stranger = {"Authorization": "Bearer nobody-issued-this"}
        response = await api.post("/v1/orders/ANY/appeasements", content=b"not json",
                                  headers=stranger)
        preview = await api.post("/v1/orders/ANY/appeasements/preview", content=b"{",
                                 headers=stranger)
        # and a read arrives meanwhile
        read = await api.get("/v1/orders/ANY/appeasements", headers=stranger)
    finally:
        limiter.limit = limit
    # then the grant and the preview are refused as overloaded, not as unauthenticated or
    # malformed: nothing of them was read; the read is not shed
    assert_problem(response, 503, "OVERLOADED")
    assert_problem(preview, 503, "OVERLOADED")
    assert_problem(read, 401, "UNAUTHENTICATED")


async def test_while_the_event_loop_runs_late_grants_are_shed(app, api, publish):
    # given an order, and an event loop that was blocked for longer than the lag allowed
    order_id = unique("LAG")
    await given_order(api, publish, order_id, TABLE_ORDER)
    limiter = app.state.service.appeasements._in_flight
    max_lag = limiter.max_lag
    limiter.max_lag = 0.2
    try:
        await asyncio.sleep(0.06)  # the watcher's timer is set
        time.sleep(0.4)  # noqa: ASYNC251 - the blocked loop is what is measured
        await asyncio.sleep(0)  # the late timer fires
        while limiter.lag <= limiter.max_lag:
            await asyncio.sleep(0.01)
        # when a grant arrives
        response = await api.post(
            f"/v1/orders/{order_id}/appeasements", headers={**MANAGER, "Idempotency-Key": "lag1"},
            json={"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "1.00"}},
        )
    finally:
        limiter.max_lag = max_lag
    # then it is refused at once, saying how late the instance runs, and nothing was decided
    problem = assert_problem(response, 503, "OVERLOADED")
    assert problem["lag_ms"] >= 200
    history = (await api.get(f"/v1/orders/{order_id}/appeasements", headers=MANAGER)).json()
    assert history["appeasements"] == []


@pytest.mark.parametrize("protocol", ["ProblemHttpToolsProtocol", "ProblemH11Protocol"])
async def test_bytes_that_are_not_http_get_problem_json_too(protocol):
    # given uvicorn serving with the service's protocol (httptools, or h11)
    import asyncio as aio

    import uvicorn

    from service.embedded import free_port
    from service.entrypoints import http_protocol

    async def nothing(scope, receive, send):  # never reached: the request is not HTTP
        raise AssertionError("the application was called")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(nothing, host="127.0.0.1", port=port,
                                           http=getattr(http_protocol, protocol),
                                           log_config=None))
    serving = aio.create_task(server.serve())
    try:
        while not server.started:
            await aio.sleep(0.01)
        # when a request with a NUL byte in a header arrives
        reader, writer = await aio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
        await writer.drain()
        answer = await aio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        server.should_exit = True
        await serving
    # then it is a 400 problem with a code, not uvicorn's plain text
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["code"] == "MALFORMED_REQUEST"

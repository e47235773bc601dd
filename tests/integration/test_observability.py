"""Traces, request ids in logs, and the gauges /metrics serves, on the running service."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from schemas.commands import APPEASEMENT_CREATE, COMMAND_RESULTS
from schemas.published import REFUND_UPDATED
from service.service_layer import ids
from tests.builders import encode, jsonrpc, unique
from tests.conftest import eventually, read_topic
from tests.integration.appeasing import MANAGER, TABLE_ORDER, given_order, refund_of
from tests.integration.test_appeasement_commands import command

pytestmark = pytest.mark.integration

GRANT_ROUTE = "/v1/orders/{order_id}/appeasements"
LATE_PARCEL = {"reason": "DELIVERY_DELAYED", "amounts": {"shipping": "5.90"}}


@pytest.fixture(scope="module")
async def spans(app) -> AsyncIterator[InMemorySpanExporter]:
    """Every span the service ends from now on, kept in memory."""
    provider = app.state.service.tracer_provider
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


class Lines(logging.Handler):
    """Log lines as the service renders them, one JSON object each."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ]))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, Any]]]:
    handler = Lines()
    logging.getLogger().addHandler(handler)
    yield handler.lines
    logging.getLogger().removeHandler(handler)


def a_trace() -> tuple[str, str, str]:
    """(trace id, parent span id, traceparent) of a caller's own trace."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


def of_trace(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans()
            if span.context is not None and span.context.trace_id == int(trace_id, 16)]


def headers_of(record: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


async def published_event(infra: Any, appeasement_id: str) -> Any:
    return await read_topic(infra.bootstrap_servers, REFUND_UPDATED,
                            lambda r: refund_of(r).get("credit_note_number") == appeasement_id)


async def finished(exporter: InMemorySpanExporter, trace_id: str, name: str) -> ReadableSpan:
    """The span of that trace and name, once it has ended (the relay ends it after the ack)."""

    async def probe() -> ReadableSpan | None:
        return next((s for s in of_trace(exporter, trace_id) if s.name == name), None)

    return await eventually(probe)


def queries(trace: list[ReadableSpan]) -> list[str]:
    return [str(span.attributes.get("db.statement", "")) for span in trace
            if span.kind == SpanKind.CLIENT and span.attributes
            and span.attributes.get("db.system") == "postgresql"]


async def test_a_grant_over_http_is_one_trace_from_the_request_to_the_published_event(
    api, publish, infra, spans
):
    # given an order, and a caller with a trace of its own
    order_id = unique("TRACE")
    await given_order(api, publish, order_id, TABLE_ORDER)
    trace_id, caller_span, traceparent = a_trace()
    # when it grants an appeasement within that trace
    response = await api.post(f"/v1/orders/{order_id}/appeasements", json=LATE_PARCEL, headers={
        **MANAGER, "Idempotency-Key": ids.message_id(), "traceparent": traceparent,
    })
    assert response.status_code == 201, response.text
    # then the refund event on the topic continues that trace
    record = await published_event(infra, response.json()["id"])
    _, event_trace, event_parent, flags = headers_of(record)["traceparent"].split("-")
    assert (event_trace, flags) == (trace_id, "01")
    # and the trace holds the request, its queries and the event's publication
    publication = await finished(spans, trace_id, f"{REFUND_UPDATED} publish")
    trace = of_trace(spans, trace_id)
    [request] = [s for s in trace if s.kind == SpanKind.SERVER]
    assert request.name == f"POST {GRANT_ROUTE}"
    assert request.parent is not None and request.parent.span_id == int(caller_span, 16)
    statements = queries(trace)
    assert any("INSERT INTO outbox" in statement for statement in statements), statements
    assert any("INSERT INTO appeasements" in statement for statement in statements), statements
    [created] = [s for s in trace if s.name == f"{REFUND_UPDATED} create"]
    assert created.kind == SpanKind.PRODUCER and publication.kind == SpanKind.PRODUCER
    assert created.parent is not None and created.parent.span_id == request.context.span_id
    assert publication.parent is not None and publication.parent.span_id == created.context.span_id
    # and a consumer of the event continues the trace under the publication's span
    assert int(event_parent, 16) == created.context.span_id


async def test_a_command_on_the_topic_is_one_trace_to_its_reply_and_event(
    api, publish, producer, infra, spans
):
    # given an order, and a command sent within a producer's trace
    order_id = unique("TRACECMD")
    await given_order(api, publish, order_id, TABLE_ORDER)
    trace_id, producer_span, traceparent = a_trace()
    message = jsonrpc(APPEASEMENT_CREATE, command(order_id), None)
    # when it arrives on the command topic
    await producer.send_and_wait(APPEASEMENT_CREATE, encode(message), key=order_id.encode(),
                                 headers=[("traceparent", traceparent.encode())])
    # then its reply and its refund event carry that trace
    reply = await read_topic(infra.bootstrap_servers, COMMAND_RESULTS,
                             lambda r: json.loads(r.value).get("id") == message["id"])
    appeasement_id = json.loads(reply.value)["result"]["appeasement"]["id"]
    event = await published_event(infra, appeasement_id)
    assert headers_of(reply)["traceparent"].split("-")[1] == trace_id
    assert headers_of(event)["traceparent"].split("-")[1] == trace_id
    # and the trace holds the processing of the command, under the producer's span, and its
    # queries
    await finished(spans, trace_id, f"{REFUND_UPDATED} publish")
    trace = of_trace(spans, trace_id)
    [processed] = [s for s in trace if s.name == f"{APPEASEMENT_CREATE} process"]
    assert processed.kind == SpanKind.CONSUMER
    assert processed.parent is not None and processed.parent.span_id == int(producer_span, 16)
    assert any("INSERT INTO outbox" in statement for statement in queries(trace))


async def test_log_lines_of_a_request_carry_its_request_id_and_trace_id(
    api, publish, log_lines
):
    # given an order
    order_id = unique("LOGS")
    await given_order(api, publish, order_id, TABLE_ORDER)
    trace_id, _, traceparent = a_trace()
    # when a grant comes with the caller's request id, within a trace
    response = await api.post(f"/v1/orders/{order_id}/appeasements", json=LATE_PARCEL, headers={
        **MANAGER, "Idempotency-Key": ids.message_id(), "traceparent": traceparent,
        "X-Request-Id": "crm-7f3a.42",
    })
    # then the answer names the request id, and so does the log line of the grant, with the trace
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "crm-7f3a.42"
    [granted] = [line for line in log_lines if line["event"] == "appeasement granted"
                 and line.get("order_id") == order_id]
    assert granted["request_id"] == "crm-7f3a.42"
    assert granted["trace_id"] == trace_id


async def test_a_request_without_a_usable_request_id_gets_one_of_its_own(api):
    # when one request comes without a request id and another with one unfit for a log line
    plain = await api.get("/healthz")
    odd = await api.get("/healthz", headers={"X-Request-Id": "two words\tand a tab"})
    # then each is answered with a fresh id
    ids_given = [plain.headers["x-request-id"], odd.headers["x-request-id"]]
    assert all(len(given) == 32 and int(given, 16) >= 0 for given in ids_given)
    assert ids_given[0] != ids_given[1]


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {frozenset(sample.labels.items()): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name}


def value(text: str, name: str, **labels: str) -> float:
    found = samples(text, name)
    return found.get(frozenset(labels.items()), 0.0)


async def test_http_requests_are_counted_and_timed_by_route_template(api, publish):
    # given an order
    order_id = unique("HTTPM")
    await given_order(api, publish, order_id, TABLE_ORDER)
    before = (await api.get("/metrics")).text
    # when it is granted once, and a path no route has is asked for
    granted = await api.post(f"/v1/orders/{order_id}/appeasements", json=LATE_PARCEL,
                             headers={**MANAGER, "Idempotency-Key": ids.message_id()})
    assert granted.status_code == 201
    assert (await api.get(f"/v1/nothing/{uuid.uuid4().hex}")).status_code == 404
    after = (await api.get("/metrics")).text
    # then each is counted under its route template (one series for every unmatched path)
    grant = {"route": GRANT_ROUTE, "method": "POST"}
    created = "appeasement_http_requests_total"
    assert value(after, created, **grant, status="201") == value(
        before, created, **grant, status="201") + 1
    assert value(after, created, route="unmatched", method="GET", status="404") == value(
        before, created, route="unmatched", method="GET", status="404") + 1
    timed = "appeasement_http_request_duration_seconds_count"
    assert value(after, timed, **grant) == value(before, timed, **grant) + 1
    assert not any(order_id in dict(labels).get("route", "")
                   for labels in samples(after, created))


async def test_consumer_lag_is_a_gauge_per_assigned_partition(api, publish, app, settings):
    # given the consumers have read an order
    await given_order(api, publish, unique("LAG"), TABLE_ORDER)
    # when /metrics is scraped
    scraped = samples((await api.get("/metrics")).text, "appeasement_consumer_lag")
    # then every partition a group holds has its lag, the same partitions /readyz lists
    readiness = await app.state.service.readiness()
    listed = {(group, name) for group, name in (
        (consumer.group_id, partition)
        for key, consumer in app.state.service.consumers.items()
        for partition in readiness["consumers"][key]["partitions"]
    )}
    gauged = {(dict(labels)["group"], f"{dict(labels)['topic']}/{dict(labels)['partition']}")
              for labels in scraped}
    assert gauged == listed
    assert {group for group, _ in gauged} == {
        settings.consumer_group, settings.command_consumer_group}
    assert all(lag >= 0 and lag == int(lag) for lag in scraped.values())


async def test_outbox_backlog_age_and_quarantine_are_gauges(api, app):
    # given a message that backs off, written two minutes ago, and one that is quarantined
    pool = app.state.service.database.pool
    key = unique("GAUGES")
    rows = await pool.fetch(
        """INSERT INTO outbox (topic, key, message_id, payload, created_at, next_attempt_at,
                               quarantined_at)
           VALUES ('t', $1, $2, '{}', now() - interval '120 seconds', now() + interval '1 hour',
                   NULL),
                  ('t', $1, $3, '{}', now(), NULL, now())
           RETURNING id""",
        key, ids.message_id(), ids.message_id(),
    )
    try:
        # when /metrics is scraped
        text = (await api.get("/metrics")).text
        # then the backlog, its oldest age and the quarantine show them
        assert value(text, "appeasement_outbox_pending_rows") >= 1
        assert value(text, "appeasement_outbox_quarantined_rows") >= 1
        assert value(text, "appeasement_outbox_oldest_pending_seconds") >= 120
    finally:
        await pool.execute("UPDATE outbox SET published_at = now(), skipped_at = now() "
                           "WHERE id = ANY($1::bigint[])", [row["id"] for row in rows])


async def test_a_query_outside_any_request_or_message_makes_no_trace_of_its_own(app, spans):
    # given the service's pool
    pool = app.state.service.database.pool
    tracer = app.state.service.tracer_provider.get_tracer("tests")
    marker = unique("probe")
    # when one query runs outside any span (as the relay's poll does) and one inside a span
    await pool.fetchval(f"SELECT 'alone {marker}'")
    with tracer.start_as_current_span("some work"):
        await pool.fetchval(f"SELECT 'within {marker}'")
    # then only the second is recorded, in the trace of its parent
    recorded = [s for s in spans.get_finished_spans()
                if marker in str((s.attributes or {}).get("db.statement", ""))]
    [within] = recorded
    assert "within" in str(within.attributes["db.statement"])
    assert within.parent is not None

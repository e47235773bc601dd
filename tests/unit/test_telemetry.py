"""Trace context carried over a message, and traces exported to an OTLP collector."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from service.adapters import trace_context
from service.settings import Settings
from service.telemetry import tracer_provider

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_trace_a_message_carries_is_the_current_one_while_it_is_handled():
    # given no trace in progress
    assert trace_context.current() == (None, None)
    # when the headers of a message are continued
    with trace_context.continued({"traceparent": TRACEPARENT, "tracestate": "crm=7f3a"}):
        # then what is written meanwhile carries that trace
        assert trace_context.current() == (TRACEPARENT, "crm=7f3a")
    assert trace_context.current() == (None, None)


@pytest.mark.parametrize("headers", [{}, {"traceparent": "not-a-trace"},
                                     {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"}])
def test_headers_without_a_valid_trace_continue_nothing(headers):
    with trace_context.continued(headers):
        assert trace_context.current() == (None, None)


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """An OTLP/HTTP collector on a free port: what it was sent."""
    server = HTTPServer(("127.0.0.1", 0), Collector)
    Collector.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Collector.received
    server.shutdown()
    server.server_close()


def test_spans_go_to_the_otlp_collector_named_after_the_service(collector):
    # given a collector configured as OTEL_EXPORTER_OTLP_ENDPOINT
    endpoint, received = collector
    settings = Settings(otel_exporter_otlp_endpoint=endpoint + "/",
                        otel_service_name="appeasement-eu")
    provider = tracer_provider(settings, "1.2.3")
    # when a span ends and the provider flushes
    with provider.get_tracer("tests").start_as_current_span("grant an appeasement"):
        pass
    assert provider.force_flush(timeout_millis=10_000)
    provider.shutdown()
    # then the collector got it over OTLP/HTTP, under the service's name and version
    [(path, content_type, body)] = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "appeasement-eu"
    assert attributes["service.version"] == "1.2.3"
    assert [span.name for scope in resource_spans.scope_spans for span in scope.spans] == [
        "grant an appeasement"
    ]


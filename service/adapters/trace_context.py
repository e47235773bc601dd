"""The W3C trace context (`traceparent`, `tracestate`) of the current span, kept with a
message and continued where the message is handled."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

#: The headers that carry a trace from one process to the next.
TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()


def current() -> tuple[str | None, str | None]:
    """(traceparent, tracestate) of the span in progress; (None, None) outside any trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


@contextmanager
def continued(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the trace these headers carry the current one, for the spans started inside."""
    if "traceparent" not in headers:
        yield
        return
    remote = _PROPAGATOR.extract(headers)
    if not get_current_span(remote).get_span_context().is_valid:
        yield
        return
    token = context.attach(remote)
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def processing(topic: str, headers: Mapping[str, str]) -> Iterator[None]:
    """A consumer span for one record of a batch: in the trace its headers carry, else under
    the span in progress (the batch's)."""
    remote = _PROPAGATOR.extract(headers)
    parent = remote if get_current_span(remote).get_span_context().is_valid else None
    with trace.get_tracer(__name__).start_as_current_span(
        f"{topic} process", context=parent, kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                    "messaging.operation.type": "process"},
    ):
        yield

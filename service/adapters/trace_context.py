"""The W3C trace context (`traceparent`, `tracestate`) of the current span, kept with a
message and continued where the message is handled."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context
from opentelemetry.trace import get_current_span
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

"""Traces with OpenTelemetry: one tracer provider for the process, spans for HTTP requests
(FastAPI), database queries (asyncpg) and Kafka messages (FastStream), exported over OTLP
only when a collector is configured. Kafka metrics (FastStream) go to the Prometheus registry
that /metrics serves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.context import Context

    from service.settings import Settings

#: Operations endpoints are polled: no trace for them.
UNTRACED_PATHS = "/healthz,/readyz,/metrics"
_DATABASE_SYSTEM = ("db.system", "db.system.name")


class QueriesNeedAParent(sampling.Sampler):
    """A database query outside any request or message (the outbox relay's poll, a readiness
    ping) is not a trace of its own; any other span without a parent goes to `root`."""

    def __init__(self, root: sampling.Sampler) -> None:
        self._root = root

    def should_sample(
        self, parent_context: Context | None, trace_id: int, name: str,
        kind: SpanKind | None = None, attributes: Attributes = None,
        links: Sequence[Link] | None = None, trace_state: Any = None,
    ) -> sampling.SamplingResult:
        if kind == SpanKind.CLIENT and attributes and any(
            key in attributes for key in _DATABASE_SYSTEM
        ):
            return sampling.SamplingResult(sampling.Decision.DROP)
        return self._root.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"QueriesNeedAParent{{{self._root.get_description()}}}"


def configure_tracing(settings: Settings, version: str) -> TracerProvider | None:
    """The process's tracer provider (made once, then global), with asyncpg instrumented;
    None when no span is recorded (`TRACING`, OTEL_SDK_DISABLED)."""
    if not settings.records_spans():
        return None
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = tracer_provider(settings, version)
        trace.set_tracer_provider(provider)
    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return provider


def tracer_provider(settings: Settings, version: str) -> TracerProvider:
    """Spans named after the service, exported over OTLP/HTTP when a collector is set. The
    sampler is OpenTelemetry's from OTEL_TRACES_SAMPLER (default: every trace), under the
    parent's decision, without queries that have no parent."""
    provider = TracerProvider(
        resource=Resource.create({
            SERVICE_NAME: settings.otel_service_name or settings.service_name,
            SERVICE_VERSION: version,
        }),
        sampler=sampling.ParentBased(QueriesNeedAParent(sampling._get_from_env_or_default())),
    )
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def broker_middlewares(provider: TracerProvider | None, app_name: str) -> list[Any]:
    """Spans for every consumed and published message (continuing the trace in its
    `traceparent`), then FastStream's Prometheus metrics."""
    metrics = KafkaPrometheusMiddleware(registry=REGISTRY, app_name=app_name)
    if provider is None:
        return [metrics]
    return [KafkaTelemetryMiddleware(tracer_provider=provider), metrics]


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    if provider is not None:
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, excluded_urls=UNTRACED_PATHS,
            exclude_spans=["receive", "send"],
        )


def shutdown(provider: TracerProvider | None) -> None:
    """Export what is still buffered."""
    if provider is not None:
        provider.force_flush(timeout_millis=5000)

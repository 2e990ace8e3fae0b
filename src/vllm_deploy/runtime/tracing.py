"""OpenTelemetry: a server span per request, W3C trace context in and out, OTLP export.

Export is on when the standard variables ask for it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, or ``OTEL_TRACES_EXPORTER=otlp``
(OTLP over HTTP/protobuf; the exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables).
``OTEL_SDK_DISABLED=true`` turns tracing off. Without export, spans still get ids, so log
lines carry trace ids that match whatever the caller propagated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["PROPAGATOR", "export_enabled", "extract_context", "make_tracer_provider"]

PROPAGATOR = TraceContextTextMapPropagator()


def export_enabled(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or "otlp" in env.get("OTEL_TRACES_EXPORTER", "").split(",")
    )


def make_tracer_provider(env: Mapping[str, str] | None = None) -> TracerProvider:
    env = os.environ if env is None else env
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "vllm-deploy")})
    provider = TracerProvider(resource=resource)
    if export_enabled(env):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class _HeaderGetter(Getter[list[tuple[bytes, bytes]]]):
    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode()
        values = [v.decode("latin-1") for k, v in carrier if k.lower() == wanted]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


def extract_context(headers: list[tuple[bytes, bytes]]) -> Context:
    """The caller's trace context from ASGI headers (``traceparent``/``tracestate``)."""
    return PROPAGATOR.extract(headers, getter=_HeaderGetter())


def tracer(provider: TracerProvider) -> Tracer:
    return provider.get_tracer("vllm_deploy.runtime")

"""OpenTelemetry: a server span per request, W3C trace context in and out, OTLP export.

Export is on when the standard variables ask for it: ``OTEL_TRACES_EXPORTER=otlp``, or, when
that variable is not set, ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
(OTLP over HTTP/protobuf; the exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables).
``OTEL_SDK_DISABLED=true`` turns tracing off; ``OTEL_TRACES_SAMPLER`` is honoured when
exporting (default: parent-based, always on). Without export nothing is recorded (a span
costs tens of microseconds per request), yet every request still gets a span id and keeps
the caller's trace id, so log lines correlate with the caller's trace: ``unrecorded_ids``
gives them without the SDK, exactly as its propagator and an ``ALWAYS_OFF`` sampler would.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "PROPAGATOR",
    "export_enabled",
    "extract_context",
    "make_tracer_provider",
    "records",
    "unrecorded_ids",
]

PROPAGATOR = TraceContextTextMapPropagator()
# W3C trace context, as the SDK's propagator reads it (TraceContextTextMapPropagator, 1.x).
_TRACEPARENT = re.compile(
    rb"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*$"
)
_ZERO_TRACE, _ZERO_SPAN = b"0" * 32, b"0" * 16
_TRACEPARENT_MAX = 512  # longer headers are ignored, as the SDK's propagator does


def export_enabled(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if "OTEL_TRACES_EXPORTER" in env:  # explicit choice wins (e.g. "none" with a metrics endpoint)
        return "otlp" in env["OTEL_TRACES_EXPORTER"].split(",")
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def make_tracer_provider(env: Mapping[str, str] | None = None) -> TracerProvider:
    env = os.environ if env is None else env
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "vllm-deploy")})
    if not export_enabled(env):
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
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


def records(provider: TracerProvider) -> bool:
    """False when no span can ever be recorded (no export: the ``ALWAYS_OFF`` sampler)."""
    return provider.sampler is not ALWAYS_OFF


def unrecorded_ids(traceparent: bytes | None) -> tuple[str, str]:
    """(trace id, span id) of a server span that is not recorded, without the SDK.

    The caller's trace id when its ``traceparent`` is valid (the SDK's rules: version ``ff``,
    all-zero ids, or a version ``00`` header with more fields are not), else a new one; always
    a new span id. Both are what the SDK's non-recording span would carry, at a tenth of the cost.
    """
    match = (
        _TRACEPARENT.search(traceparent)
        if traceparent is not None and len(traceparent) <= _TRACEPARENT_MAX
        else None
    )
    if (
        match is not None
        and match[1] != b"ff"
        and not (match[1] == b"00" and match[5])
        and match[2] != _ZERO_TRACE
        and match[3] != _ZERO_SPAN
    ):
        trace_id = match[2].decode()
    else:
        trace_id = f"{random.getrandbits(128) or 1:032x}"
    return trace_id, f"{random.getrandbits(64) or 1:016x}"

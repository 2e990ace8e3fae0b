from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from vllm_deploy.runtime.tracing import export_enabled, extract_context, records, unrecorded_ids


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, False), ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
     ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
     ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
     ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
     ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False)],
)  # fmt: skip
def test_export_follows_the_standard_variables(env: dict[str, str], expected: bool) -> None:
    assert export_enabled(env) is expected


CALLER = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        f"00-{CALLER}-00f067aa0ba902b7-01",
        f"00-{CALLER}-00f067aa0ba902b7-00",
        f"  00-{CALLER}-00f067aa0ba902b7-01\t",
        f"01-{CALLER}-00f067aa0ba902b7-01-extra",
        f"00-{CALLER}-00f067aa0ba902b7-01-extra",
        f"ff-{CALLER}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{CALLER}-{'0' * 16}-01",
        f"00-{CALLER.upper()}-00f067aa0ba902b7-01",
        "garbage",
        f"00-{CALLER}-00f067aa0ba902b7",
        f"01-{CALLER}-00f067aa0ba902b7-01-{'x' * 500}",
    ],
)
def test_unrecorded_ids_are_what_the_sdk_would_give(traceparent: str | None) -> None:
    """Without export the middleware skips the SDK: the trace id must still be the one the
    SDK's propagator and an ALWAYS_OFF sampler give (the caller's, or a new one)."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    headers = [] if traceparent is None else [(b"traceparent", traceparent.encode())]
    span = provider.get_tracer("t").start_span("s", context=extract_context(headers))
    sdk_trace = format(span.get_span_context().trace_id, "032x")
    ours, span_id = unrecorded_ids(None if traceparent is None else traceparent.encode())
    assert re.fullmatch(r"[0-9a-f]{32}", ours) and re.fullmatch(r"[0-9a-f]{16}", span_id)
    assert (ours == CALLER) is (sdk_trace == CALLER)
    assert not records(provider) and records(TracerProvider())

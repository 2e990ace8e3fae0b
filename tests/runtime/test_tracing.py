from __future__ import annotations

import pytest

from vllm_deploy.runtime.tracing import export_enabled


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

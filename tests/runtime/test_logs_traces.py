"""Every log line is JSON; access lines carry the trace id of the span the pod exported."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from vllm_deploy.harness import ServerProcess, free_port

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint that decodes the protobuf and keeps the spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in rs.resource.attributes
                        if a.key == "service.name"
                    )
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            attrs = {a.key: a.value for a in span.attributes}
                            receiver.spans.append(
                                {
                                    "trace_id": span.trace_id.hex(),
                                    "span_id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(),
                                    "name": span.name,
                                    "service": service,
                                    "kind": str(span.kind),
                                    "status": str(attrs["http.response.status_code"].int_value),
                                }
                            )
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def test_log_lines_are_json_and_trace_ids_match_exported_spans(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_SERVICE_NAME": "tiny-llama-pod",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        # The access lines still wait when the server stops: its shutdown must write them.
        "VLLMDEPLOY_FLUSH_INTERVAL_S": "10",
    }
    server = ServerProcess(
        ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "1"],
        log_path=tmp_path / "server.log",
        env=env,
    ).start()
    try:
        url = server.url
        plain = httpx.post(f"{url}/v1/completions", json={"prompt": "a b c", "max_tokens": 4})
        traced = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 3,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            headers={
                "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01",
                "x-request-id": "req-42",
            },
        )
        missing = httpx.post(f"{url}/v1/completions", json={"model": "nope", "prompt": "x"})
        assert (plain.status_code, traced.status_code, missing.status_code) == (200, 200, 404)
        assert traced.headers["x-request-id"] == "req-42"
        assert traced.headers["traceparent"].startswith(f"00-{CALLER_TRACE}-")
    finally:
        assert server.terminate() == 0  # a graceful stop exports the last spans

    lines = server.log().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON, or this fails
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    access = [r for r in records if r["logger"] == "vllm_deploy.access"]
    assert [a["status"] for a in access] == [200, 200, 404]
    spans = {(s["trace_id"], s["span_id"]): s for s in receiver.spans}
    for line in access:
        span = spans[(line["trace_id"], line["span_id"])]
        assert span["service"] == "tiny-llama-pod" and span["kind"] == "2"  # SPAN_KIND_SERVER
        assert span["status"] == str(line["status"])
    plain_line, traced_line, _ = access
    assert plain_line["prompt_tokens"] == 3 and plain_line["completion_tokens"] == 4
    assert (
        plain_line["model"] == "m"
        and plain_line["ttfb_ms"] > 0
        and plain_line["client"].startswith("127.0.0.1:")
    )
    assert traced_line["request_id"] == "req-42" and traced_line["trace_id"] == CALLER_TRACE
    assert spans[(traced_line["trace_id"], traced_line["span_id"])]["parent"] == "00f067aa0ba902b7"
    assert traced_line["completion_tokens"] == 3 and traced_line["model"] == "m"


def test_an_access_line_comes_without_more_traffic(tmp_path: Path) -> None:
    with ServerProcess(
        ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "1"],
        log_path=tmp_path / "server.log",
    ) as server:
        answer = httpx.post(f"{server.url}/v1/completions", json={"prompt": "a", "max_tokens": 2})
        assert answer.status_code == 200
        for _ in range(100):  # written within the flush interval (0.05 s), while it runs
            access = [line for line in server.log().splitlines() if "vllm_deploy.access" in line]
            if access:
                break
            time.sleep(0.1)
        assert [json.loads(line)["request_id"] for line in access] == [
            answer.headers["x-request-id"]
        ]


def test_reference_engine_logs_are_json_too(reference_server: ServerProcess) -> None:
    httpx.post(
        f"{reference_server.url}/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=30
    )
    lines = reference_server.log().splitlines()
    assert lines
    for line in lines:
        json.loads(line)

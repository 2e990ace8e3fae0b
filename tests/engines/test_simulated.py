"""The simulated engine in process: latency model knobs, faults, start-up, admin routes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from tests.engines.vllm_api import validate
from tests.metrics_util import scrape
from vllm_deploy import __version__
from vllm_deploy.engines import ENGINES, build_app
from vllm_deploy.serve_config import FaultSettings, ServeConfig, SimulatedSettings

LOOPBACK = ("127.0.0.1", 40000)


def _client(client_addr: tuple[str, int] = LOOPBACK, **sim: object) -> TestClient:
    settings = SimulatedSettings.model_validate({"ttft_ms": 0, "itl_ms": 0, **sim})
    config = ServeConfig(engine="simulated", model="sim", sim=settings)
    app = build_app(config, ENGINES["simulated"], CollectorRegistry())
    return TestClient(app, client=client_addr)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with _client() as c:
        _wait_ready(c)
        yield c


def _wait_ready(c: TestClient) -> None:
    deadline = time.monotonic() + 5
    while c.get("/health").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_not_ready_until_startup_delay_has_passed() -> None:
    with _client(startup_s=0.5) as c:
        assert c.get("/health").status_code == 503
        resp = c.post("/v1/completions", json={"prompt": "x"})
        assert resp.status_code == 503 and "loading" in resp.json()["error"]["message"]
        _wait_ready(c)
        assert c.post("/v1/completions", json={"prompt": "x"}).status_code == 200


def test_output_length_without_max_tokens_is_bounded_and_seeded(client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "seed": 4}
    first = client.post("/v1/chat/completions", json=body).json()
    again = client.post("/v1/chat/completions", json=body).json()
    assert first["choices"][0]["message"] == again["choices"][0]["message"]
    assert 1 <= first["usage"]["completion_tokens"] <= SimulatedSettings().output_tokens
    assert first["choices"][0]["finish_reason"] == "stop"


def test_error_rate_fault_fails_requests_and_counts_them(client: TestClient) -> None:
    assert client.post("/admin/sim/faults", json={"error_rate": 1.0}).json()["error_rate"] == 1.0
    resp = client.post("/v1/completions", json={"prompt": "x"})
    assert resp.status_code == 500
    assert resp.json()["error"]["type"] == "InternalServerError"
    stream = client.post("/v1/completions", json={"prompt": "x", "stream": True})
    events = [line for line in stream.text.splitlines() if line.startswith("data: ")]
    assert json.loads(events[0].removeprefix("data: "))["error"]["code"] == 500
    assert events[-1] == "data: [DONE]"
    assert (
        scrape(client.get("/metrics").text)["vllm:request_success_total{finished_reason=error}"]
        == 2
    )
    client.post("/admin/sim/faults", json={"error_rate": 0.0})
    assert client.post("/v1/completions", json={"prompt": "x"}).status_code == 200


def test_faults_are_validated_and_readable(client: TestClient) -> None:
    resp = client.post("/admin/sim/faults", json={"slowdown": 0.5})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "slowdown"
    resp = client.post("/admin/sim/faults", json={"hangs": True})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "hangs"
    assert client.get("/admin/sim/faults").json() == FaultSettings().model_dump()


def test_version_and_models_shapes(client: TestClient) -> None:
    assert client.get("/version").json() == {
        "version": "0.33.0",
        "engine": "simulated",
        "vllm_deploy_version": __version__,
    }
    listing = client.get("/v1/models").json()
    validate("ModelList", listing)
    card = listing["data"][0]
    assert card["id"] == "sim" and card["max_model_len"] == 4096 and card["owned_by"] == "vllm"
    assert card["permission"][0]["object"] == "model_permission"


def test_max_tokens_metric_observes_each_requests_resolved_limit(client: TestClient) -> None:
    # As vLLM (v1/engine/output_processor.py): the max_tokens the request ran with, which the
    # server always resolves (the default 16 of completions, or the room left in the context).
    client.post("/v1/completions", json={"prompt": "x"})
    client.post("/v1/completions", json={"prompt": "x", "max_tokens": 3})
    metrics = scrape(client.get("/metrics").text)
    assert metrics["vllm:request_params_max_tokens_count"] == 2
    assert metrics["vllm:request_params_max_tokens_sum"] == 16 + 3
    assert metrics["vllm:request_success_total{finished_reason=length}"] >= 1


def test_the_body_request_id_names_the_response(client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "request_id": "r-7"}
    assert client.post("/v1/chat/completions", json=body).json()["id"] == "chatcmpl-r-7"
    reply = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 1}).json()
    assert reply["id"].startswith("cmpl-") and len(reply["id"]) > len("cmpl-") + 8

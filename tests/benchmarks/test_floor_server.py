"""The bench's floor server: the bare engine, plus request ids in and out, and nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vllm_deploy.harness import ServerProcess

FLOOR = Path(__file__).parents[2] / "benchmarks" / "floor_server.py"
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00")
BODY = {"model": "sim", "prompt": "x", "max_tokens": 1}


@pytest.fixture(scope="module")
def floor() -> Iterator[ServerProcess]:
    args = ["--no-middleware", "--engine", "simulated", "--model", "sim", "--sim-ttft-ms", "0"]
    with ServerProcess(args, launcher=[str(FLOOR)]) as server:
        yield server


def test_the_engine_gets_the_id_the_client_is_given(floor: ServerProcess) -> None:
    answer = httpx.post(f"{floor.url}/v1/completions", json=BODY)
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert answer.json()["id"] == f"cmpl-{request_id}"  # vLLM's id is built from the header
    assert TRACEPARENT.fullmatch(answer.headers["traceparent"])


def test_a_given_id_is_kept(floor: ServerProcess) -> None:
    answer = httpx.post(f"{floor.url}/v1/completions", json=BODY, headers={"x-request-id": "r-1"})
    assert answer.headers.get_list("x-request-id") == ["r-1"]
    assert answer.json()["id"] == "cmpl-r-1"


def test_nothing_else_is_added(floor: ServerProcess) -> None:
    """No middleware metrics, no gate: what the bare engine serves, plus the two headers."""
    assert "vllm_deploy_requests_total" not in httpx.get(f"{floor.url}/metrics").text
    with ServerProcess(["--no-middleware", "--engine", "simulated", "--model", "sim"]) as bare:
        off = httpx.post(f"{bare.url}/v1/completions", json=BODY)
    on = httpx.post(f"{floor.url}/v1/completions", json=BODY)
    assert set(on.headers) - set(off.headers) == {"x-request-id", "traceparent"}

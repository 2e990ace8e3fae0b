"""The benchmarks' lean client counts what httpx counts, and fails on a bad answer."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vllm_deploy.harness import ServerProcess

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from loadgen import closed_loop, lean_closed_loop

STREAMED = {"prompt": "x", "max_tokens": 5, "ignore_eos": True, "stream": True}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(["--engine", "simulated", "--model", "sim", "--sim-ttft-ms", "0"]) as s:
        yield s


@pytest.mark.parametrize("body", [{"prompt": "x", "max_tokens": 3}, STREAMED])
def test_lean_and_httpx_clients_count_alike(server: ServerProcess, body: dict[str, object]) -> None:
    url = f"{server.url}/v1/completions"
    lean = asyncio.run(lean_closed_loop(url, body, 2, 0.3, "lean"))
    plain = asyncio.run(closed_loop(url, body, 2, 0.3, "httpx"))
    assert lean.requests > 0 and plain.requests > 0
    assert len(lean.latencies) == lean.requests
    per_request = [(p.tokens / p.requests, p.chunks / p.requests) for p in (lean, plain)]
    assert per_request[0] == per_request[1]
    assert per_request[0] == ((5.0, 5.0) if body.get("stream") else (3.0, 1.0))


def test_a_bad_answer_stops_the_lean_client(server: ServerProcess) -> None:
    body = {"model": "not-served", "prompt": "x", "max_tokens": 1}
    with pytest.raises(RuntimeError, match="404"):
        asyncio.run(lean_closed_loop(f"{server.url}/v1/completions", body, 2, 0.3, ""))

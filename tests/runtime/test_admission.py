"""Overload: beyond VLLMDEPLOY_MAX_INFLIGHT, 429 with Retry-After; never a 5xx or a timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.metrics_util import scrape
from vllm_deploy.harness import ServerProcess


async def test_excess_requests_get_429_and_admitted_ones_finish(tmp_path: Path) -> None:
    args = ["--engine", "simulated", "--model", "m", "--sim-ttft-ms", "50", "--sim-itl-ms", "10"]
    env = {"VLLMDEPLOY_MAX_INFLIGHT": "8", "VLLMDEPLOY_RETRY_AFTER_S": "2"}
    with ServerProcess(args, log_path=tmp_path / "server.log", env=env) as server:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            body = {"prompt": "x", "max_tokens": 30}
            responses = await asyncio.gather(
                *(client.post(f"{server.url}/v1/completions", json=body) for _ in range(40))
            )
            metrics = scrape((await client.get(f"{server.url}/metrics")).text)
            # Probes are never refused, even at the limit.
            assert (await client.get(f"{server.url}/health/ready")).status_code == 200
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429}
    assert codes.count(200) >= 8 and codes.count(429) >= 1
    for r in responses:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "2"
            error = r.json()["error"]
            assert error["type"] == "RateLimitError" and error["code"] == 429
        else:
            assert r.json()["usage"]["completion_tokens"] == 30
    assert metrics["vllm_deploy_rejections_total{reason=max_inflight}"] == codes.count(429)
    assert metrics["vllm_deploy_requests_total{code=429,route=/v1/completions}"] == codes.count(429)

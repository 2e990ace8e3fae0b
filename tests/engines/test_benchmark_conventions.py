"""Load with vLLM's own benchmarking conventions completes with no error on both engines.

`vllm bench serve`'s chat requests (streamed, ``max_completion_tokens``, ``ignore_eos``,
``stream_options.include_usage``) plus ``continuous_usage_stats``, as benchmarking clients
send them: the request that got 400 on every request before (issue 8).
"""

from __future__ import annotations

import asyncio

import httpx

from vllm_deploy.harness import ServerProcess
from vllm_deploy.harness.vllm_bench import run_benchmark

REQUESTS, CONCURRENCY, OUTPUT_LEN = 32, 8, 12


def test_vllm_bench_chat_load_has_no_errors(any_server: ServerProcess) -> None:
    prompts = [
        f"Request {i}: summarize the state of the cluster in one line." for i in range(REQUESTS)
    ]
    model = httpx.get(f"{any_server.url}/v1/models").json()["data"][0]["id"]
    result = asyncio.run(
        run_benchmark(
            any_server.url, model, prompts, output_len=OUTPUT_LEN, concurrency=CONCURRENCY
        )
    )
    assert result.errors == []
    assert [r.output_tokens for r in result.requests] == [OUTPUT_LEN] * REQUESTS
    assert all(len(r.itl) == OUTPUT_LEN - 1 for r in result.requests)
    assert result.output_tokens == REQUESTS * OUTPUT_LEN

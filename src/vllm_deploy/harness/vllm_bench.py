"""A load client with vLLM's own benchmarking conventions (``vllm bench serve``).

Each request is what vLLM 0.33.0's ``async_request_openai_chat_completions`` sends
(vllm/benchmarks/lib/endpoint_request_func.py): a streamed chat completion with
``max_completion_tokens``, ``stream_options.include_usage``, and ``ignore_eos`` (its
``--ignore-eos``); ``continuous_usage_stats`` is added as ``--extra-body`` would add it. Its
answer is read the same way: TTFT at the first chunk with streamed output, one ITL per later
one, output tokens from the usage chunk. Stricter than vLLM's client, an error event inside
a stream and a token chunk without usage (continuous stats asked for) count as errors.

Usage: ``result = asyncio.run(run_benchmark(url, model, prompts, output_len=128, concurrency=8))``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["BenchResult", "RequestResult", "run_benchmark"]


@dataclass
class RequestResult:
    success: bool = False
    error: str = ""
    ttft: float = 0.0
    itl: list[float] = field(default_factory=list)
    latency: float = 0.0
    output_tokens: int | None = None


@dataclass
class BenchResult:
    requests: list[RequestResult]
    duration: float

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.requests if not r.success]

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens or 0 for r in self.requests)

    def median_ms(self, what: str) -> float:
        values = (
            [v for r in self.requests for v in r.itl]
            if what == "itl"
            else [getattr(r, what) for r in self.requests if r.success]
        )
        return statistics.median(values) * 1000 if values else float("nan")


def _has_streamed_output(choice: dict[str, Any]) -> bool:
    """vLLM's ``_choice_has_streamed_output``: content, or an empty token chunk (no role)."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return False
    if delta.get("content") or delta.get("reasoning") or delta.get("tool_calls"):
        return True
    return delta.get("content") == "" and "role" not in delta


async def _one(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], continuous: bool
) -> RequestResult:
    out = RequestResult()
    start = last = time.perf_counter()
    try:
        async with client.stream("POST", url, json=payload) as resp:
            if resp.status_code != 200:
                await resp.aread()
                out.error = f"HTTP {resp.status_code}: {resp.text[:300]}"
                return out
            async for line in resp.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                now = time.perf_counter()
                data = json.loads(line.removeprefix("data: "))
                if "error" in data:
                    out.error = f"error event: {data['error'].get('message')}"
                    return out
                choices = data.get("choices")
                if continuous and choices and data.get("usage") is None:
                    out.error = "a chunk without usage (continuous_usage_stats)"
                    return out
                if choices and _has_streamed_output(choices[0]):
                    if out.ttft == 0.0:
                        out.ttft = now - start
                    else:
                        out.itl.append(now - last)
                    last = now
                elif usage := data.get("usage"):
                    out.output_tokens = usage.get("completion_tokens")
    except httpx.HTTPError as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    out.success = out.ttft > 0.0
    out.error = "" if out.success else "Never received a valid chunk to calculate TTFT."
    out.latency = last - start
    return out


async def run_benchmark(
    base_url: str,
    model: str,
    prompts: Sequence[str],
    *,
    output_len: int,
    concurrency: int,
    continuous_usage_stats: bool = True,
    ignore_eos: bool = True,
) -> BenchResult:
    """Sends every prompt once, at most ``concurrency`` at a time (``--max-concurrency``)."""
    url = f"{base_url}/v1/chat/completions"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)

    def payload(prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_completion_tokens": output_len,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if ignore_eos:
            body["ignore_eos"] = True
        if continuous_usage_stats:
            body["stream_options"]["continuous_usage_stats"] = True
        return body

    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def limited(prompt: str) -> RequestResult:
            async with gate:
                return await _one(client, url, payload(prompt), continuous_usage_stats)

        start = time.perf_counter()
        results = await asyncio.gather(*(limited(p) for p in prompts))
        return BenchResult(list(results), time.perf_counter() - start)

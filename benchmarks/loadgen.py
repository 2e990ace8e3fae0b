"""Closed-loop HTTP load on loopback, shared by the benchmarks."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass

import httpx

__all__ = ["Point", "closed_loop"]


@dataclass
class Point:
    label: str
    concurrency: int
    requests: int
    tokens: int
    chunks: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def row(self) -> str:
        p50 = statistics.median(self.latencies) * 1000
        return (
            f"| {self.label} | {self.concurrency} | {self.rps:.1f} | "
            f"{self.tokens / self.seconds:.0f} | {self.chunks / self.seconds:.0f} | {p50:.1f} |"
        )


async def _one(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> tuple[int, int]:
    if not body.get("stream"):
        resp = await client.post(url, json=body)
        resp.raise_for_status()
        return int(resp.json()["usage"]["completion_tokens"]), 1
    chunks = tokens = 0
    async with client.stream("POST", url, json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if line.startswith("data: {"):
                chunks += 1
                if json.loads(line[6:])["choices"]:
                    tokens += 1
    return tokens, chunks  # one token per chunk; the last one also carries finish_reason


async def closed_loop(
    url: str, body: dict[str, object], concurrency: int, seconds: float, label: str
) -> Point:
    point = Point(label, concurrency, 0, 0, 0, 0.0, [])
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for _ in range(concurrency):  # warm-up: open connections, load caches
            await _one(client, url, body)
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                tokens, chunks = await _one(client, url, body)
                point.latencies.append(time.perf_counter() - t0)
                point.requests += 1
                point.tokens += tokens
                point.chunks += chunks

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        point.seconds = time.perf_counter() - start
    return point

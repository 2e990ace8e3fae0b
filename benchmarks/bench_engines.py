"""Throughput of the GPU-free engines, and of the HTTP layer itself.

Each point runs a closed loop: `concurrency` clients each send a request, wait for the whole
response, and send the next, for `--seconds`. Reported: requests/s, output tokens/s and the
median request latency. The simulated engine at zero latency measures the server's own cost
(requests/s non-streamed; chunks/s streamed). Server and load generator share this machine.

Usage: python benchmarks/bench_engines.py [--seconds 5] [--model .models/tiny-llama]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from vllm_deploy.harness import ServerProcess

CONCURRENCY = (1, 8, 32)


@dataclass
class Point:
    label: str
    concurrency: int
    requests: int
    tokens: int
    chunks: int
    seconds: float
    latencies: list[float]

    def row(self) -> str:
        p50 = statistics.median(self.latencies) * 1000 if self.latencies else float("nan")
        return (f"| {self.label} | {self.concurrency} | {self.requests / self.seconds:.1f} | "
                f"{self.tokens / self.seconds:.0f} | {self.chunks / self.seconds:.0f} | {p50:.1f} |")  # fmt: skip


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
    return tokens - 1, chunks  # the last chunk carries finish_reason, not a token


async def _closed_loop(
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


def _run_server(
    args: list[str], runs: list[tuple[str, dict[str, object]]], seconds: float
) -> list[Point]:
    points = []
    with ServerProcess(args, ready_timeout=120) as server:
        for label, body in runs:
            for c in CONCURRENCY:
                point = asyncio.run(
                    _closed_loop(f"{server.url}/v1/completions", body, c, seconds, label)
                )
                print(point.row(), flush=True)
                points.append(point)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per point")
    parser.add_argument(
        "--model", default=".models/tiny-llama", help="model for the reference engine"
    )
    opts = parser.parse_args()
    if not Path(opts.model, "config.json").exists():
        sys.exit(f"--model {opts.model}: no model there; run `make model` first")
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{opts.seconds:.0f} s per point, closed loop\n")  # fmt: skip
    print(
        "| engine / mode | concurrency | requests/s | output tokens/s | chunks/s | p50 latency ms |"
    )
    print("|---|---|---|---|---|---|")
    common = ["--max-num-seqs", "32"]
    gen = {
        "prompt": "The quick brown fox",
        "max_tokens": 32,
        "ignore_eos": True,
        "temperature": 1.0,
    }
    _run_server(["--engine", "reference", "--model", opts.model, *common], [("reference, 32 tokens", gen)],
                opts.seconds)  # fmt: skip
    _run_server(["--engine", "simulated", "--model", "sim", *common],
                [("simulated (50 ms TTFT, 10 ms ITL), 32 tokens", gen)], opts.seconds)  # fmt: skip
    zero = ["--engine", "simulated", "--model", "sim", "--sim-ttft-ms", "0", "--sim-itl-ms", "0",
            "--sim-prefill-ms-per-token", "0", *common]  # fmt: skip
    _run_server(zero, [("HTTP layer: simulated at 0 ms, 1 token", {"prompt": "x", "max_tokens": 1}),
                       ("HTTP layer: simulated at 0 ms, streamed 64 tokens",
                        {"prompt": "x", "max_tokens": 64, "ignore_eos": True, "stream": True})],
                opts.seconds)  # fmt: skip


if __name__ == "__main__":
    main()

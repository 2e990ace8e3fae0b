"""Throughput of the GPU-free engines, and of the HTTP layer itself.

Each point runs a closed loop: `concurrency` clients each send a request, wait for the whole
response, and send the next, for `--seconds`. Reported: requests/s, output tokens/s and the
median request latency. The simulated engine at zero latency measures the server's own cost
(requests/s non-streamed; chunks/s streamed). Server and load generator share this machine.

Then `vllm bench serve`'s conventions (vllm_deploy.harness.vllm_bench): streamed chat with
max_completion_tokens, ignore_eos and stream_options {include_usage, continuous_usage_stats},
a fixed number of requests at a fixed concurrency; reported: errors, output tokens/s and
median TTFT and ITL, as vLLM's benchmark reports them.

Usage: python benchmarks/bench_engines.py [--seconds 5] [--model .models/tiny-llama]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
from pathlib import Path

from loadgen import Point, closed_loop
from vllm_deploy.harness import ServerProcess
from vllm_deploy.harness.vllm_bench import run_benchmark

CONCURRENCY = (1, 8, 32)


def _run_server(
    args: list[str], runs: list[tuple[str, dict[str, object]]], seconds: float
) -> list[Point]:
    points = []
    with ServerProcess(args, ready_timeout=120) as server:
        for label, body in runs:
            for c in CONCURRENCY:
                point = asyncio.run(
                    closed_loop(f"{server.url}/v1/completions", body, c, seconds, label)
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
    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{opts.seconds:.0f} s per point, closed loop\n"
    )
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
    _run_server(
        ["--engine", "reference", "--model", opts.model, *common],
        [("reference, 32 tokens", gen)],
        opts.seconds,
    )
    _run_server(
        ["--engine", "simulated", "--model", "sim", *common],
        [("simulated (50 ms TTFT, 10 ms ITL), 32 tokens", gen)],
        opts.seconds,
    )
    zero = [
        "--engine",
        "simulated",
        "--model",
        "sim",
        "--sim-ttft-ms",
        "0",
        "--sim-itl-ms",
        "0",
        "--sim-prefill-ms-per-token",
        "0",
        *common,
    ]
    _run_server(
        zero,
        [
            ("HTTP layer: simulated at 0 ms, 1 token", {"prompt": "x", "max_tokens": 1}),
            (
                "HTTP layer: simulated at 0 ms, streamed 64 tokens",
                {"prompt": "x", "max_tokens": 64, "ignore_eos": True, "stream": True},
            ),
        ],
        opts.seconds,
    )

    print(
        "\n| engine | requests | concurrency | errors "
        "| output tokens/s | median TTFT ms | median ITL ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, args in [
        ("reference", ["--engine", "reference", "--model", opts.model, *common]),
        ("simulated (50 ms TTFT, 10 ms ITL)", ["--engine", "simulated", "--model", "sim", *common]),
        ("simulated at 0 ms", zero),
    ]:
        _bench_conventions(label, args)


def _bench_conventions(
    label: str, args: list[str], requests: int = 128, concurrency: int = 16
) -> None:
    prompts = [
        f"Request {i}: describe the rollout of replica {i} in a few sentences."
        for i in range(requests)
    ]
    with ServerProcess(args, ready_timeout=120) as server:
        result = asyncio.run(
            run_benchmark(
                server.url,
                args[args.index("--model") + 1],
                prompts,
                output_len=64,
                concurrency=concurrency,
            )
        )
    print(
        f"| {label} | {requests} | {concurrency} | {len(result.errors)} | "
        f"{result.output_tokens / result.duration:.0f} | {result.median_ms('ttft'):.1f} | "
        f"{result.median_ms('itl'):.2f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()

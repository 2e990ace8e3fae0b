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
import platform
import sys
from pathlib import Path

from loadgen import Point, closed_loop
from vllm_deploy.harness import ServerProcess

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

"""What ProductionMiddleware costs: the zero-latency simulated engine with and without it.

Five servers run side by side: no middleware; a floor (``floor_server.py``: only the request
id in and the X-Request-Id and traceparent headers out, which a middleware that keeps them
can hardly undercut); the middleware; the middleware with nothing batched
(VLLMDEPLOY_FLUSH_INTERVAL_S=0: each access line written and each request counted as it
ends); and the middleware with the access log off (VLLMDEPLOY_LOG_LEVEL=WARNING). Rounds
alternate between them so drift in the machine's speed hits all alike. Workloads:
non-streamed 1-token requests and streamed 64-token requests, at concurrency 1 and 8.
Reported: medians over rounds of requests/s, p50 and p99 latency, the server's CPU time
per request (from /proc), how busy the server was (its CPU time over the wall time; 100%
is one core) and the load generator's own CPU time per request, then each variant's
difference to the bare engine.

The load comes from the lean client (``loadgen.lean_closed_loop``) unless ``--client
httpx``: with httpx the client needs nearly twice the server's CPU per request, so with
``--pin`` (one core each) the client saturates first and requests/s measure the client.

Each round starts with the next variant, so none always runs first; after the table, the
median of the per-round ratios (variant / off, same round) is a second, drift-free view.

Usage: python benchmarks/bench_middleware.py [--rounds 5] [--seconds 2.5]
       [--workload "1 token"] [--only-concurrency 8] [--pin] [--client httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
from pathlib import Path

import uvloop

from loadgen import Point, closed_loop, lean_closed_loop
from vllm_deploy.harness import ServerProcess

ZERO = [  # the simulated engine with every latency at 0: the middleware's worst case
    *("--engine", "simulated", "--model", "sim", "--max-num-seqs", "64"),
    *("--sim-ttft-ms", "0", "--sim-itl-ms", "0", "--sim-prefill-ms-per-token", "0"),
]
WORKLOADS = {
    "1 token": {"prompt": "x", "max_tokens": 1},
    "streamed 64 tokens": {"prompt": "x", "max_tokens": 64, "ignore_eos": True, "stream": True},
}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(
    server: ServerProcess, body: dict[str, object], concurrency: int, seconds: float, client: str
) -> tuple[Point, float, float]:
    """One closed-loop point; per request, the server's and the client's CPU µs, and how
    busy the server was meanwhile."""
    assert server.proc is not None
    url = f"{server.url}/v1/completions"
    before, wall = _cpu_seconds(server.proc.pid), time.perf_counter()
    mine = resource.getrusage(resource.RUSAGE_SELF)  # the load generator is this process
    if client == "lean":
        point = uvloop.run(lean_closed_loop(url, body, concurrency, seconds, ""))
    else:
        point = asyncio.run(closed_loop(url, body, concurrency, seconds, ""))
    cpu = _cpu_seconds(server.proc.pid) - before
    busy = cpu / (time.perf_counter() - wall)
    after = resource.getrusage(resource.RUSAGE_SELF)
    own = after.ru_utime + after.ru_stime - mine.ru_utime - mine.ru_stime
    n = point.requests + concurrency  # warm-up requests ran too
    return point, cpu / n * 1e6, busy, own / n * 1e6


def _median(points: list[Point], pick: str) -> float:
    values = {
        "rps": [p.rps for p in points],
        "p50": [p.percentile_ms(0.5) for p in points],
        "p99": [p.percentile_ms(0.99) for p in points],
    }[pick]
    return statistics.median(values)


FLOOR = [str(Path(__file__).with_name("floor_server.py"))]  # takes vllm-deploy's arguments
VARIANTS = {  # label: (extra serve args, environment, launcher)
    "off": (["--no-middleware"], {}, None),
    "floor: request id only": (["--no-middleware"], {}, FLOOR),
    "on": ([], {}, None),
    "on, nothing batched": ([], {"VLLMDEPLOY_FLUSH_INTERVAL_S": "0"}, None),
    "on, no access log": ([], {"VLLMDEPLOY_LOG_LEVEL": "WARNING"}, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--workload",
        action="append",
        choices=sorted(WORKLOADS),
        help="only these workloads (repeatable; default: all)",
    )
    parser.add_argument(
        "--only-concurrency",
        type=int,
        action="append",
        help="only these concurrencies (repeatable; default: 1 and --concurrency)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="the load generator (default: lean, which saturates the server first)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers on the first CPU, the load generator on the second (Linux)",
    )
    opts = parser.parse_args()
    print(
        f"# middleware cost: {opts.rounds} alternating rounds x {opts.seconds:.1f} s, "
        f"{opts.client} client{', pinned' if opts.pin else ''}\n"
    )
    print(
        "| workload | concurrency | middleware | requests/s | p50 ms | p99 ms "
        "| server CPU µs/request | server busy | client CPU µs/request |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    servers = {
        label: ServerProcess([*ZERO, *args], env=env, launcher=launcher).start()
        for label, (args, env, launcher) in VARIANTS.items()
    }
    if opts.pin:  # the servers on CPU 0 (one at a time runs), the load generator on CPU 1
        for server in servers.values():
            assert server.proc is not None
            os.sched_setaffinity(server.proc.pid, {0})
        os.sched_setaffinity(0, {1})
    try:
        for name, body in WORKLOADS.items():
            if opts.workload and name not in opts.workload:
                continue
            for concurrency in opts.only_concurrency or (1, opts.concurrency):
                points: dict[str, list[Point]] = {label: [] for label in servers}
                cpu: dict[str, list[float]] = {label: [] for label in servers}
                busy: dict[str, list[float]] = {label: [] for label in servers}
                client: dict[str, list[float]] = {label: [] for label in servers}
                labels = list(servers)
                for r in range(opts.rounds):
                    # Each round starts with the next variant: no variant always runs first.
                    for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
                        point, cpu_us, share, client_us = _run(
                            servers[label], body, concurrency, opts.seconds, opts.client
                        )
                        points[label].append(point)
                        cpu[label].append(cpu_us)
                        busy[label].append(share)
                        client[label].append(client_us)
                for label, pts in points.items():
                    print(
                        f"| {name} | {concurrency} | {label} | {_median(pts, 'rps'):.0f} | "
                        f"{_median(pts, 'p50'):.3f} | {_median(pts, 'p99'):.3f} | "
                        f"{statistics.median(cpu[label]):.0f} | "
                        f"{statistics.median(busy[label]):.0%} | "
                        f"{statistics.median(client[label]):.0f} |"
                    )
                base_rps, base_p50 = _median(points["off"], "rps"), _median(points["off"], "p50")
                base_cpu = statistics.median(cpu["off"])
                for label in list(servers)[1:]:
                    loss = 1 - _median(points[label], "rps") / base_rps
                    added = _median(points[label], "p50") - base_p50
                    extra_cpu = statistics.median(cpu[label]) - base_cpu
                    print(
                        f"| {name} | {concurrency} | cost of {label} | {loss:+.1%} "
                        f"| {added:+.3f} | | {extra_cpu:+.0f} | | |",
                        flush=True,
                    )
                for label in list(servers)[1:]:
                    # Within a round the variants ran back to back: a drift-free second view.
                    ratios = [
                        p.rps / o.rps for p, o in zip(points[label], points["off"], strict=True)
                    ]
                    print(
                        f"# {name}, concurrency {concurrency}, {label}: median of per-round "
                        f"requests/s ratios to off {statistics.median(ratios):.3f} "
                        f"(range {min(ratios):.3f} to {max(ratios):.3f})",
                        flush=True,
                    )
    finally:
        for server in servers.values():
            server.terminate()


if __name__ == "__main__":
    main()

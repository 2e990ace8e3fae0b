"""Capacity simulator speed: requests simulated per second over 1,000 pods (make bench).

The scenario: the prod example with the HPA pinned at 1,000 replicas (so every sync
reconciles 1,000 pods), the llama-3.1-8b-h100 profile, Poisson arrivals at 10,000 req/s
for as long as it takes to reach N requests. Median wall time of 3 runs per N, measured
in one process; the target is 1,000,000 requests in <= 60 s on this machine.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from vllm_deploy.sim.policies import policy_for_spec
from vllm_deploy.sim.profile import load_profile
from vllm_deploy.sim.setup import setup_from_spec
from vllm_deploy.sim.simulator import simulate
from vllm_deploy.sim.trace import parse_trace
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[1]
PODS, RATE, RUNS = 1000, 10_000.0, 3


def main() -> None:
    spec = load_spec(ROOT / "examples" / "prod.yaml")
    autoscaling = spec.autoscaling.model_copy(update={"min_replicas": PODS, "max_replicas": PODS})
    spec = spec.model_copy(update={"autoscaling": autoscaling})
    setup = setup_from_spec(spec, load_profile("llama-3.1-8b-h100"))
    print(f"| requests | pods | median wall s (of {RUNS}) | requests/s simulated | served |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for target in (125_000, 250_000, 500_000, 1_000_000):
        trace = parse_trace(f"poisson:rate={RATE:g}", duration=target / RATE, seed=1)
        walls = []
        for run in range(RUNS):
            start = time.perf_counter()
            result = simulate(setup, trace, policy_for_spec(spec), seed=run)
            walls.append(time.perf_counter() - start)
        wall = statistics.median(walls)
        served = sum(1 for s in result.status if s == 1) / len(trace)
        print(f"| {len(trace):,} | {PODS} | {wall:.1f} | {len(trace) / wall:,.0f} | {served:.1%} |")
        if target == 1_000_000:
            worst = max(walls)
    print(
        f"1,000,000 requests over {PODS} pods: slowest of {RUNS} runs {worst:.1f} s "
        f"({'within' if worst <= 60 else 'OVER'} the 60 s budget)"
    )


if __name__ == "__main__":
    main()
